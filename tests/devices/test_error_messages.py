"""Device errors a person reads are English in logs and translated where they are shown.

``str()`` of an error keeps the English it always had; its ``message`` is a
template with values, stored with a failed command (``domain.messages.stored``)
and translated on the room page in the reader's language.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import translation

import pems.collector.commands
import pems.control.actions
import pems.devices
from pems.devices.dlt645 import ERR_WORDS, Frame, raise_for_error
from pems.devices.dlt645_items import ERR_BITS, SECURITY_ERROR_BITS
from pems.devices.errors import (
    NO_REPLY,
    PURCHASE_REASONS,
    ExceptionResponse,
    PurchaseReason,
    PurchaseRejected,
    ResponseTimeout,
    TerminalDeviceError,
)
from pems.domain.messages import Message, restored, stored
from tests.messages import untranslated


def test_a_timeout_reads_as_before_in_english_and_in_chinese_where_shown():
    error = ResponseTimeout(
        Message.of(NO_REPLY, seconds="1.0"), endpoint="10.0.0.5:8899", address="240000000001"
    )
    assert str(error) == "no reply within 1.0 s (gateway 10.0.0.5:8899, meter 240000000001)"
    kept = restored(stored(error.message))
    assert kept == error.message
    with translation.override("zh-hans"):
        assert kept.text(translation.gettext) == (
            "1.0 秒内无应答（网关 10.0.0.5:8899，电表 240000000001）"
        )


def test_a_refused_purchase_names_its_reason_in_the_readers_language():
    error = PurchaseRejected(PurchaseReason.MAC_FAILED, 7, address=3)
    assert str(error) == "purchase rejected: mac_failed, meter purchase count 7 (meter 3)"
    with translation.override("zh-hans"):
        assert restored(stored(error.message)).text(translation.gettext) == (
            "电表拒绝购电：MAC 校验失败，电表购电次数 7（电表 3）"
        )


def test_a_dlt645_error_reply_names_its_bits_in_the_readers_language():
    refused = Frame("000000000001", 0x1C | 0xC0, bytes([0b101]))  # other, unauthorised
    with pytest.raises(ExceptionResponse) as caught:
        raise_for_error(refused)
    assert str(caught.value) == (
        "DL/T 645 error reply to 0x1C: other, unauthorised (meter 000000000001)"
    )
    with translation.override("zh-hans"):
        assert restored(stored(caught.value.message)).text(translation.gettext) == (
            "DL/T 645 错误应答（命令 0x1C）：其他原因, 密码错误或未授权（电表 000000000001）"
        )


def test_every_err_bit_of_the_identifiers_file_has_words_to_translate():
    assert set(ERR_BITS.values()) <= set(ERR_WORDS)
    assert set(SECURITY_ERROR_BITS.values()) <= {r.value for r in PURCHASE_REASONS}


def test_plain_text_details_stay_as_they_are_inside_translated_words():
    error = TerminalDeviceError("DL/T 645 checksum 0x1A != computed 0x1B", address="0001")
    with translation.override("zh-hans"):
        assert error.message.text(translation.gettext) == (
            "DL/T 645 checksum 0x1A != computed 0x1B（电表 0001）"
        )


def test_a_stored_message_keeps_numbers_as_text_and_refuses_anything_else():
    message = Message.of("%(a)s %(b)s %(c)s", a=Decimal("1.50"), b=2, c=Message("x"))
    assert stored(message) == {
        "template": "%(a)s %(b)s %(c)s",
        "params": {"a": "1.50", "b": 2, "c": {"template": "x", "params": {}}},
    }
    assert restored(stored(message)).text() == "1.50 2 x"
    for bad in ({"params": {}}, {"template": "t", "params": {"a": 1.5}}, {"template": 3}):
        with pytest.raises(ValueError, match="not a stored message"):
            restored(bad)


def _marked_templates(*modules: object) -> set[str]:
    """Every ``gettext_noop("…")`` literal in the modules' source files."""
    found: set[str] = set()
    for module in modules:
        root = Path(module.__file__)  # type: ignore[attr-defined]
        files = root.parent.rglob("*.py") if root.name == "__init__.py" else [root]
        for path in files:
            source = path.read_text()
            found |= set(re.findall(r'gettext_noop\(\s*"((?:[^"\\]|\\.)*)"\s*\)', source))
    return found


def test_every_device_and_command_failure_template_has_a_chinese_translation():
    templates = _marked_templates(pems.devices, pems.collector.commands, pems.control.actions)
    assert "no reply within %(seconds)s s" in templates
    assert untranslated(templates) == []
