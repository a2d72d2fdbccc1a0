"""Typed errors of the field-device layer.

Two families matter to the collector:

* :class:`RetryableDeviceError` — the request may succeed if repeated later
  (the meter stayed silent, the gateway dropped the line, a frame arrived
  garbled). Nothing is known to have changed on the meter.
* :class:`TerminalDeviceError` — the meter understood and refused, or the
  operation does not exist for this device. Repeating it will not help.

Every message names the gateway endpoint and the meter address when they are
known, so an operator can walk to the right riser shaft. ``str()`` of an error
is English (logs); its :attr:`DeviceError.message` is translated where a person
reads it (a failed command on the room page). A detail given as plain text (a
frame's checksum, say) stays as it is inside the translated words around it.
"""

from __future__ import annotations

import enum

from pems.domain.messages import Message, gettext_noop

# The words of the bus failures every protocol shares.
NO_REPLY = gettext_noop("no reply within %(seconds)s s")
CANNOT_CONNECT = gettext_noop("cannot connect")
CANNOT_CONNECT_BECAUSE = gettext_noop("cannot connect: %(error)s")
CONNECTION_DROPPED = gettext_noop("connection lost")
CONNECTION_LOST = gettext_noop("connection lost: %(error)s")
GATEWAY_UNREACHABLE = gettext_noop("gateway unreachable (waiting before reconnecting)")

_LOCATED = {
    (True, True): gettext_noop("%(detail)s (gateway %(gateway)s, meter %(meter)s)"),
    (True, False): gettext_noop("%(detail)s (gateway %(gateway)s)"),
    (False, True): gettext_noop("%(detail)s (meter %(meter)s)"),
}


class DeviceError(Exception):
    """Base of every error raised by :mod:`pems.devices`."""

    retryable: bool = False

    def __init__(
        self,
        detail: str | Message,
        *,
        endpoint: str | None = None,
        address: str | int | None = None,
    ) -> None:
        self.detail = str(detail)
        self.endpoint = endpoint
        self.address = address
        self.message = _located(
            detail if isinstance(detail, Message) else Message(detail), endpoint, address
        )
        super().__init__(str(self.message))


def _located(detail: Message, endpoint: str | None, address: str | int | None) -> Message:
    """``detail`` with the gateway and meter it concerns, when known."""
    template = _LOCATED.get((endpoint is not None, address is not None))
    if template is None:
        return detail
    where = {"gateway": endpoint or "", "meter": str(address) if address is not None else ""}
    return Message.of(template, detail=detail, **where)


class RetryableDeviceError(DeviceError):
    """A failure after which the same request may be tried again later."""

    retryable = True


class TerminalDeviceError(DeviceError):
    """A definite refusal or impossibility; retrying the same request is useless."""


class ProtocolError(RetryableDeviceError):
    """Base of wire-format errors raised by the codecs (frames, words, BCD)."""


class BadFrame(ProtocolError):
    """A reply was malformed: bad checksum/CRC, wrong length, wrong address, bad BCD."""


class ResponseTimeout(RetryableDeviceError):
    """The meter did not answer within the configured timeout."""


class GatewayUnavailable(RetryableDeviceError):
    """The TCP connection to the gateway could not be opened or was lost."""


class ExceptionResponse(TerminalDeviceError):
    """The meter answered with a protocol-level refusal.

    ``code`` is the Modbus exception code, or the DL/T 645 ERR byte / security
    error word; ``reasons`` names the set bits when the protocol defines them.
    """

    def __init__(
        self,
        detail: str | Message,
        *,
        code: int,
        reasons: tuple[str, ...] = (),
        endpoint: str | None = None,
        address: str | int | None = None,
    ) -> None:
        self.code = code
        self.reasons = reasons
        super().__init__(detail, endpoint=endpoint, address=address)


class PurchaseReason(enum.Enum):
    """Why a meter refused a credit push (names shared by every protocol)."""

    DUPLICATE = "duplicate"
    COUNT_ERROR = "count_error"
    MAC_FAILED = "mac_failed"
    HOARDING_EXCEEDED = "hoarding_exceeded"
    CUSTOMER_MISMATCH = "customer_mismatch"
    AUTH_FAILED = "auth_failed"
    FEE_CONTROL_OFF = "fee_control_off"
    OTHER = "other"


#: How a refusal reads: the reason's own name in English, as before, translated where shown.
PURCHASE_REASONS = {
    PurchaseReason.DUPLICATE: gettext_noop("duplicate"),
    PurchaseReason.COUNT_ERROR: gettext_noop("count_error"),
    PurchaseReason.MAC_FAILED: gettext_noop("mac_failed"),
    PurchaseReason.HOARDING_EXCEEDED: gettext_noop("hoarding_exceeded"),
    PurchaseReason.CUSTOMER_MISMATCH: gettext_noop("customer_mismatch"),
    PurchaseReason.AUTH_FAILED: gettext_noop("auth_failed"),
    PurchaseReason.FEE_CONTROL_OFF: gettext_noop("fee_control_off"),
    PurchaseReason.OTHER: gettext_noop("other"),
}


class PurchaseRejected(TerminalDeviceError):
    """The meter refused a purchase; ``meter_count`` is its purchase count now.

    ``meter_count`` is ``None`` when the count could not be read back.
    """

    def __init__(
        self,
        reason: PurchaseReason,
        meter_count: int | None,
        *,
        endpoint: str | None = None,
        address: str | int | None = None,
    ) -> None:
        self.reason = reason
        self.meter_count = meter_count
        detail = Message.of(
            gettext_noop("purchase rejected: %(reason)s, meter purchase count %(count)s"),
            reason=Message(PURCHASE_REASONS[reason]),
            count=str(meter_count),
        )
        super().__init__(detail, endpoint=endpoint, address=address)


class Unsupported(TerminalDeviceError):
    """The operation does not exist for this kind of device."""


class MapError(ValueError):
    """A register-map or identifier data file is invalid (raised at import)."""


class EncodeError(ValueError):
    """A value cannot be represented in a field (out of range, too precise)."""
