"""Console URLs, mounted at /console/."""

from django.urls import path

from pems.console.forms import control, money
from pems.console.views import (
    actions,
    audit,
    auth,
    batch,
    inventory,
    keep_power,
    overview,
    point,
    site_defaults,
    tariffs,
)

app_name = "console"


def _action(form_class: type) -> object:
    return actions.PointActionView.as_view(form_class=form_class)


urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("", overview.DashboardView.as_view(), name="dashboard"),
    path("monitor/", overview.MonitorView.as_view(), name="monitor"),
    path("monitor/tiles.json", overview.TilesJsonView.as_view(), name="tiles"),
    path("monitor/export.xlsx", overview.MonitorExportView.as_view(), name="monitor-export"),
    path("monitor/batch/", batch.BatchView.as_view(), name="batch"),
    path("points/<int:pk>/", point.PointView.as_view(), name="point"),
    path("points/<int:pk>/live.json", point.PointLiveView.as_view(), name="point-live"),
    path("points/<int:pk>/<str:table>.xlsx", point.PointExportView.as_view(), name="point-export"),
    path("points/<int:pk>/open/", _action(money.OpenAccountForm), name="open-account"),
    path("points/<int:pk>/sell/", _action(money.SellForm), name="sell"),
    path("points/<int:pk>/refund/", _action(money.RefundForm), name="refund"),
    path("points/<int:pk>/recall-credit/", _action(money.RecallCreditForm), name="recall-credit"),
    path(
        "points/<int:pk>/take-over-credit/",
        _action(money.TakeOverCreditForm),
        name="take-over-credit",
    ),
    path("points/<int:pk>/close-account/", _action(money.CloseAccountForm), name="close-account"),
    path(
        "points/<int:pk>/reverse/<int:entry>/",
        actions.ReverseEntryView.as_view(form_class=money.ReverseForm),
        name="reverse",
    ),
    path("points/<int:pk>/tariff/", _action(control.TariffForm), name="tariff"),
    path("points/<int:pk>/thresholds/", _action(control.ThresholdsForm), name="thresholds"),
    path("points/<int:pk>/replace/", _action(control.ReplaceMeterForm), name="replace"),
    path(
        "points/<int:pk>/relay/<str:command>/",
        actions.RelayActionView.as_view(),
        name="relay",
    ),
    path(
        "points/<int:pk>/commands/<int:command>/cancel/",
        actions.CancelCommandView.as_view(),
        name="cancel-command",
    ),
    path("receipts/<int:pk>/", point.ReceiptView.as_view(), name="receipt"),
    path("import/", inventory.ImportView.as_view(), name="import"),
    path("tariffs/", tariffs.TariffListView.as_view(), name="tariffs"),
    path("tariffs/new/", tariffs.TariffCreateView.as_view(), name="tariff-new"),
    path("tariffs/<int:pk>/", tariffs.TariffDetailView.as_view(), name="tariff-detail"),
    path("keep-power/", keep_power.KeepPowerView.as_view(), name="keep-power"),
    path(
        "keep-power/<int:pk>/remove/",
        keep_power.KeepPowerRemoveView.as_view(),
        name="keep-power-remove",
    ),
    path("site-defaults/", site_defaults.SiteDefaultsView.as_view(), name="site-defaults"),
    path("audit/", audit.AuditView.as_view(), name="audit"),
    path("audit/export.xlsx", audit.AuditExportView.as_view(), name="audit-export"),
]
