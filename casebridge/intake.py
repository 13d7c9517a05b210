"""Cases from outside systems: the 12345 hotline's signed work orders and Open311 GeoReport v2.

Pure helpers (no I/O, no clock): the signature, the case id an outside order number maps to,
hotline category names, and how a case's status reads in Open311. The routes live in
``casebridge/api/routes/hotline.py`` and ``casebridge/api/routes/open311.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Literal

HOTLINE = "hotline"
OPEN311 = "open311"

# The same alphabet as the officer's case ids (casebridge.api.routes.cases.ID_ALPHABET): no 0/O,
# 1/I, because people read these ids out on the phone.
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

# 12345 platforms name categories in their own words; these map to the default policy's codes.
# A deployment adds its own names with CASEBRIDGE_HOTLINE_CATEGORIES. A policy category's code or
# its label (e.g. "劳动报酬") is always accepted as it is.
HOTLINE_CATEGORIES: Mapping[str, str] = {
    "劳动报酬": "wage_arrears",
    "拖欠工资": "wage_arrears",
    "欠薪": "wage_arrears",
    "工资拖欠": "wage_arrears",
    "农民工工资": "wage_arrears",
    "工伤": "work_injury",
    "职业伤害": "work_injury",
    "工伤认定": "work_injury",
    "交通事故": "traffic_accident",
    "交通事故责任": "traffic_accident",
    "社会保险": "social_insurance",
    "社保": "social_insurance",
    "劳动关系": "labor_relation",
    "劳动合同": "labor_relation",
    "劳动争议": "labor_relation",
    "平台规则": "platform_rules",
    "算法规则": "platform_rules",
    "平台罚款": "platform_rules",
    "安全隐患": "safety_hazard",
    "其他": "other",
    "其它": "other",
}

# Open311 knows two statuses; a case is "closed" there once nothing more will happen to it.
OPEN311_CLOSED = frozenset({"closed", "withdrawn"})
OPEN311_STATUS_NOTES = {
    "in_progress": "正在办理 / in progress",
    "escalated": "已提交联席会议协调 / referred to the joint meeting",
    "resolved": "已办结，待回访 / resolved, awaiting the requester's feedback",
    "closed": "已办结 / closed",
    "withdrawn": "已撤回 / withdrawn",
}

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SPACES = re.compile(r"\s+")


def external_case_id(channel: str, external_id: str) -> str:
    """The case id of an outside system's order: the same order number always gives the same case.

    Derived apart from the officer's Idempotency-Key ids (which hash the username first), so no
    username and key can land on an outside order's case.
    """
    digest = hashlib.sha256(f"channel\0{channel}\0{external_id}".encode()).digest()
    return "CB-" + "".join(ID_ALPHABET[b % len(ID_ALPHABET)] for b in digest[:10])


def new_service_request_id() -> str:
    """An Open311 service_request_id: random, so one request's id tells nothing about another's."""
    return "311-" + "".join(secrets.choice(ID_ALPHABET) for _ in range(12))


def hotline_signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over ``f"{timestamp}.{body}"`` (the body exactly as sent)."""
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", signature):
        return False
    return hmac.compare_digest(hotline_signature(secret, timestamp, body), signature.lower())


def timestamp_fresh(timestamp: str, now: float, window_seconds: int) -> bool:
    """Unix seconds, ASCII digits only, within the window either side of now (clocks drift both ways)."""
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        return False
    return abs(now - int(timestamp)) <= window_seconds


def hotline_category(name: str, codes: Mapping[str, str], extra: Mapping[str, str] | None = None) -> str | None:
    """Our category code for a hotline's category: a code, a policy label, or a mapped name.

    ``codes`` maps each policy category code to its label.
    """
    name = name.strip()
    if name in codes:
        return name
    by_label = {label: code for code, label in codes.items()}
    if name in by_label:
        return by_label[name]
    for table in (extra or {}, HOTLINE_CATEGORIES):
        code = table.get(name)
        if code is not None:
            return code if code in codes else None
    return None


def person_name(name: str | None, first_name: str | None, last_name: str | None) -> str:
    """One name from Open311's fields: ``name`` as given, else family name first for Chinese
    names (张 + 三 → 张三), "first last" for others."""
    if name and name.strip():
        return name.strip()
    first, last = (first_name or "").strip(), (last_name or "").strip()
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def title_from(description: str, limit: int = 50) -> str:
    """A case title from a request's description: its first ``limit`` characters, on one line."""
    return _SPACES.sub(" ", description).strip()[:limit].strip()


def open311_status(status: str) -> Literal["open", "closed"]:
    return "closed" if status in OPEN311_CLOSED else "open"
