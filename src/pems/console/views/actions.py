"""Money and control actions on one point: form → confirmation with a reason → done once.

Permission is checked before anything is shown or done: the point comes from
a scoped queryset (404 outside the person's sites) and the form's capability
is required at the point's site (403), on GET and on POST alike.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from pems.access.scope import require
from pems.accounts.actions import REVERSIBLE
from pems.billing.relays import open_account_of
from pems.console.access import ConsoleView, point_or_404, site_of
from pems.console.forms.base import ActionForm
from pems.console.forms.control import RELAY_FORMS, CancelCommandForm
from pems.console.operations import CANCELLABLE, REFUSALS
from pems.console.views.common import done_before, refusal_text, remember_done
from pems.control.models import Command
from pems.ledger.models import JournalEntry


class PointActionView(ConsoleView):
    """One ``ActionForm`` on the point named in the URL."""

    form_class: type[ActionForm] = ActionForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return super().dispatch(request, *args, **kwargs)
        self.point = point_or_404(request.user, kwargs["pk"])
        self.form_class = self.get_form_class(**kwargs)
        require(request.user, self.form_class.capability, site_of(self.point))
        self.account = open_account_of(self.point)
        return super().dispatch(request, *args, **kwargs)

    def get_form_class(self, **kwargs: Any) -> type[ActionForm]:
        return self.form_class

    def form_kwargs(self) -> dict[str, Any]:
        return {"point": self.point, "account": self.account}

    def render_step(self, request: HttpRequest, form: ActionForm, confirm: bool) -> HttpResponse:
        template = "console/action_confirm.html" if confirm else "console/action_form.html"
        unavailable = self.form_class.unavailable(self.point, self.account)
        return render(
            request,
            template,
            {
                "form": form,
                "point": self.point,
                "account": self.account,
                "unavailable": unavailable,
                "summary": form.summary() if confirm else [],
            },
            status=409 if unavailable else 200,
        )

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_step(request, self.form_class(**self.form_kwargs()), confirm=False)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if url := done_before(request, request.POST.get("key", "")):
            return redirect(url)  # this very form was done already: show its result again
        if self.form_class.unavailable(self.point, self.account):
            return self.get(request)
        confirming = "confirm" in request.POST
        data = request.POST.copy()
        if not confirming and not data.get("reason") and self.form_class.default_reason:
            data["reason"] = str(self.form_class.default_reason)
        form = self.form_class(data, confirming=confirming, **self.form_kwargs())
        if "edit" in request.POST or not form.is_valid():
            reason_only = set(form.errors) == {"reason"}
            return self.render_step(request, form, confirm=reason_only and "edit" not in data)
        if not confirming:
            return self.render_step(request, form, confirm=True)
        try:
            with transaction.atomic():
                url = form.perform(request.user)
        except REFUSALS as exc:
            for text in refusal_text(exc):
                form.add_error(None, text)
            return self.render_step(request, form, confirm=False)
        remember_done(request, form.cleaned_data["key"], url)
        messages.success(request, _("Done: %(title)s.") % {"title": form.title})
        return redirect(url)


class RelayActionView(PointActionView):
    def get_form_class(self, **kwargs: Any) -> type[ActionForm]:
        try:
            return RELAY_FORMS[kwargs["command"]]
        except KeyError:
            raise Http404("no such command") from None


class ReverseEntryView(PointActionView):
    """Reverse one recharge or refund of the point's open account."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.entry_pk = kwargs["entry"]
        return super().dispatch(request, *args, **kwargs)

    def form_kwargs(self) -> dict[str, Any]:
        if self.account is None:
            raise Http404("no open account")
        entry = get_object_or_404(
            JournalEntry.objects.filter(account=self.account, kind__in=REVERSIBLE),
            pk=self.entry_pk,
        )
        return {**super().form_kwargs(), "entry": entry}


class CancelCommandView(PointActionView):
    """Cancel one pending command of the point."""

    form_class = CancelCommandForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.command_pk = kwargs["command"]
        return super().dispatch(request, *args, **kwargs)

    def form_kwargs(self) -> dict[str, Any]:
        command = get_object_or_404(
            Command.objects.filter(point=self.point, kind__in=CANCELLABLE), pk=self.command_pk
        )
        return {**super().form_kwargs(), "command": command}
