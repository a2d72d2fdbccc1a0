"""Typed errors of the field-device layer.

Two families matter to the collector:

* :class:`RetryableDeviceError` — the request may succeed if repeated later
  (the meter stayed silent, the gateway dropped the line, a frame arrived
  garbled). Nothing is known to have changed on the meter.
* :class:`TerminalDeviceError` — the meter understood and refused, or the
  operation does not exist for this device. Repeating it will not help.

Every message names the gateway endpoint and the meter address when they are
known, so an operator can walk to the right riser shaft.
"""

from __future__ import annotations

import enum


class DeviceError(Exception):
    """Base of every error raised by :mod:`pems.devices`."""

    retryable: bool = False

    def __init__(
        self, detail: str, *, endpoint: str | None = None, address: str | int | None = None
    ) -> None:
        self.detail = detail
        self.endpoint = endpoint
        self.address = address
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.endpoint is not None:
            where.append(f"gateway {self.endpoint}")
        if self.address is not None:
            where.append(f"meter {self.address}")
        return f"{self.detail} ({', '.join(where)})" if where else self.detail


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
        detail: str,
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
        detail = f"purchase rejected: {reason.value}, meter purchase count {meter_count}"
        super().__init__(detail, endpoint=endpoint, address=address)


class Unsupported(TerminalDeviceError):
    """The operation does not exist for this kind of device."""


class MapError(ValueError):
    """A register-map or identifier data file is invalid (raised at import)."""


class EncodeError(ValueError):
    """A value cannot be represented in a field (out of range, too precise)."""
