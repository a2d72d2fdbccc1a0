from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "pems.billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        from django.core.checks import register

        from pems.billing.checks import holiday_calendar_horizon

        register(holiday_calendar_horizon)
