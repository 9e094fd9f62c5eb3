"""Canonical columns, header aliases and value vocabularies of reportkit's inputs.

One source of truth for what a roster, a health log and a gate register look like
once read: canonical column names, the Chinese and English headers schools and
survey tools use for them, the words accepted for each enumerated value, the
symptom vocabulary, and the reason codes of quarantined rows and data-quality
findings. Parsing lives in :mod:`reportkit.ingest`; this module is data.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

__all__ = [
    "ABSENCE_WORDS",
    "CENTRAL_SCHOOL",
    "ENTRY_ALIASES",
    "ENTRY_KIND_WORDS",
    "IGNORED_HEADERS",
    "LOG_ALIASES",
    "NO_SYMPTOM_WORDS",
    "NO_WORDS",
    "RESPIRATORY_SYMPTOMS",
    "ROLE_WORDS",
    "ROSTER_ALIASES",
    "SESSION_WORDS",
    "STATUS_WORDS",
    "SURVEY_PLACEHOLDERS",
    "SYMPTOMS",
    "SYMPTOM_SEPARATORS",
    "YES_WORDS",
    "AbsenceReason",
    "EntryKind",
    "FlagLevel",
    "Reason",
    "Role",
    "Session",
    "Status",
    "match_header",
    "normalize_header",
    "normalize_word",
]

# the level of a school with village schools under it, when schools.yaml names none
CENTRAL_SCHOOL = "中心校"


class Role(StrEnum):
    STUDENT = "student"
    STAFF = "staff"


class Session(StrEnum):
    MORNING = "morning"
    NOON = "noon"
    EVENING = "evening"


class Status(StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    LEFT = "left"


class AbsenceReason(StrEnum):
    ILLNESS = "illness"
    PERSONAL = "personal"
    OTHER = "other"


class EntryKind(StrEnum):
    STAFF = "staff"
    VISITOR = "visitor"
    DELIVERY = "delivery"
    OTHER = "other"


class FlagLevel(StrEnum):
    """Levels of attention, lowest first; a person is listed at the highest only.

    The one ordering of levels: :attr:`rank` (fever 1, key person 2, symptomatic 3,
    suspected 4; 0 is no level) is what the flag engine computes with, and
    :meth:`most_urgent_first` is the order lists show people in (suspected first).
    ``fever`` is not a level a person is listed at (fever makes a person
    symptomatic); it is the lowest so that the fever list sorts after the others.
    """

    FEVER = "fever"
    KEY_PERSON = "key_person"
    SYMPTOMATIC = "symptomatic"
    SUSPECTED = "suspected"

    @property
    def rank(self) -> int:
        """1 (fever) to 4 (suspected): a higher rank needs attention first; 0 is no level."""
        return _FLAG_RANKS[self]

    @classmethod
    def from_rank(cls, rank: int) -> FlagLevel | None:
        """The level of ``rank``; None for 0 (no level)."""
        return None if rank == 0 else _FLAG_LEVELS[rank - 1]

    @classmethod
    def most_urgent_first(cls) -> dict[str, int]:
        """value -> place in a list shown most urgent first (``suspected`` 0 ... ``fever``
        3), for sorting rows by their ``level``: ``frame["level"].map(...)``."""
        return {level.value: len(_FLAG_LEVELS) - level.rank for level in _FLAG_LEVELS}


_FLAG_LEVELS = tuple(FlagLevel)
_FLAG_RANKS = {level: i + 1 for i, level in enumerate(_FLAG_LEVELS)}


class Reason(StrEnum):
    """Why a row was quarantined or a field recorded as a data-quality finding."""

    # quarantine: the row cannot be used
    MISSING_PERSON_ID = "missing_person_id"
    MISSING_DATE = "missing_date"
    BAD_DATE = "bad_date"
    UNKNOWN_PERSON = "unknown_person"
    UNKNOWN_SCHOOL = "unknown_school"
    MISSING_SCHOOL = "missing_school"
    MISSING_NAME = "missing_name"
    DUPLICATE_ROW = "duplicate_row"
    MISSING_ENTRY_TIME = "missing_entry_time"
    BAD_ENTRY_TIME = "bad_entry_time"
    WRONG_SCHOOL = "wrong_school"  # names another school than the file's folder or --school
    BAD_ENCODING = "bad_encoding"  # a line the file's encoding cannot decode
    # data quality: the row is kept, the field nulled or kept as written
    BAD_TEMPERATURE = "bad_temperature"
    IMPOSSIBLE_TEMPERATURE = "impossible_temperature"
    FAHRENHEIT_CONVERTED = "fahrenheit_converted"
    UNKNOWN_SYMPTOM = "unknown_symptom"
    BAD_SESSION = "bad_session"
    BAD_YES_NO = "bad_yes_no"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_ROLE = "bad_role"
    BAD_STATUS = "bad_status"
    BAD_ABSENCE_REASON = "bad_absence_reason"
    NAME_MISMATCH = "name_mismatch"
    UNKNOWN_COLUMNS = "unknown_columns"
    DUPLICATE_COLUMN = "duplicate_column"  # two headers for one column: the first is used
    CONFLICTING_VALUES = "conflicting_values"  # ... and this row's two cells differ
    HEAD_TEACHER_CONFLICT = "head_teacher_conflict"  # a class's rows name two head teachers
    FILE_REJECTED = "file_rejected"  # the afternoon job refused the whole file

    @property
    def quarantines(self) -> bool:
        return self in _QUARANTINE_REASONS


_QUARANTINE_REASONS = frozenset(
    {
        Reason.MISSING_PERSON_ID,
        Reason.MISSING_DATE,
        Reason.BAD_DATE,
        Reason.UNKNOWN_PERSON,
        Reason.UNKNOWN_SCHOOL,
        Reason.MISSING_SCHOOL,
        Reason.MISSING_NAME,
        Reason.DUPLICATE_ROW,
        Reason.MISSING_ENTRY_TIME,
        Reason.BAD_ENTRY_TIME,
        Reason.WRONG_SCHOOL,
        Reason.BAD_ENCODING,
    }
)

# --- headers -----------------------------------------------------------------

_QUESTION_PREFIX = re.compile(r"^(?:q\d+[.、:：)]?|\d+[.、:：)]|[(（]\d+[)）])\s*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def normalize_word(text: object) -> str:
    """Full-width to half-width (NFKC), trimmed, spaces removed, lower case."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text))
    return _SPACES.sub("", s).strip().lower()


def normalize_header(text: object) -> str:
    """A header as matched against aliases: NFKC, no spaces, lower, no question number.

    Survey tools prefix their questions: ``3、今日体温``, ``Q3.``, ``3.``; the prefix
    is stripped. Full-width brackets become ASCII through NFKC.
    """
    s = normalize_word(text)
    s = _QUESTION_PREFIX.sub("", s)
    return s.rstrip(":*?？")


def _aliases(table: dict[str, list[str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for canonical, words in table.items():
        for word in [canonical, *words]:
            out[normalize_header(word)] = canonical
    return out


_PERSON_ID = [
    "学号",
    "学生学号",
    "您的学号",
    "工号",
    "编号",
    "学籍号",
    "学生编号",
    "人员编号",
    "id",
    "personid",
    "person_id",
]
_SCHOOL = ["学校代码", "学校编号", "学校id", "school", "学校", "学校名称", "schoolid", "school_id"]

ROSTER_ALIASES: dict[str, str] = _aliases(
    {
        "person_id": _PERSON_ID,
        "name": ["姓名", "名字", "学生姓名", "教职工姓名"],
        "role": ["身份", "类别", "人员类别", "人员类型", "type"],
        "school_id": _SCHOOL,
        "grade": ["年级"],
        "class": ["班级", "班别", "部门", "classname", "class_name"],
        "status": ["状态", "在校状态", "在籍状态"],
        # optional: the class's head teacher (staff, a name only; a phone column is
        # no alias and is never stored)
        "head_teacher": [
            "班主任",
            "班主任姓名",
            "班主任老师",
            "班级负责人",
            "head teacher",
            "headteacher",
            "head_teacher",
            "form teacher",
        ],
    }
)

LOG_ALIASES: dict[str, str] = _aliases(
    {
        "date": ["日期", "检测日期", "填报日期", "检查日期", "晨检日期", "今日日期"],
        "session": ["时段", "检测时段", "晨午检", "检测类型"],
        "person_id": _PERSON_ID,
        "name": ["姓名", "学生姓名", "名字", "您的姓名", "填报人"],
        "school_id": _SCHOOL,
        "temperature": [
            "体温",
            "体温(℃)",
            "体温(°c)",
            "今日体温",
            "体温测量",
            "测量体温",
            "今日体温(℃)",
            "temp",
        ],
        "symptoms": [
            "症状",
            "身体状况",
            "健康状况",
            "是否有以下症状",
            "今日是否有以下症状",
            "有无症状",
            "不适症状",
        ],
        "absent": ["是否缺勤", "到校情况", "缺勤", "是否到校", "出勤情况"],
        "absence_reason": ["缺勤原因", "请假原因", "缺课原因"],
        "key_area_14d": [
            "14天内是否到过重点地区",
            "旅居史",
            "14天旅居史",
            "14天内旅居史",
            "是否到过重点地区",
            "近14天是否到过重点地区",
            "key_area",
        ],
        "contact_14d": [
            "是否接触确诊或疑似病例",
            "接触史",
            "14天接触史",
            "是否接触过确诊或疑似病例",
            "近14天是否接触确诊或疑似病例",
            "contact",
        ],
        "reported_at": ["填报时间", "提交时间", "提交答卷时间", "上报时间", "submitted_at"],
    }
)

ENTRY_ALIASES: dict[str, str] = _aliases(
    {
        "entered_at": ["进校时间", "入校时间", "进入时间", "到访时间", "entry_time"],
        "name": ["姓名", "来访人姓名", "人员姓名"],
        "kind": ["身份", "人员类别", "来访类别", "类别", "类型"],
        "phone": ["联系电话", "电话", "手机", "手机号", "手机号码"],
        "id_number": ["身份证号", "身份证号码", "证件号码", "证件号"],
        "purpose": ["事由", "来访事由", "进校事由"],
        "temperature": ["体温", "体温(℃)", "测量体温"],
        "approved_by": ["审批人", "批准人", "审批"],
        "left_at": ["离校时间", "离开时间", "exit_time"],
        "date": ["日期", "进校日期", "来访日期"],
        "school_id": _SCHOOL,
    }
)

# Columns survey tools add of their own; ignored without a finding.
IGNORED_HEADERS = frozenset(
    normalize_header(h)
    for h in ["序号", "所用时间", "来源", "来源详情", "来自ip", "ip", "总分", "备注", "答题时长"]
)


def match_header(header: object, aliases: dict[str, str]) -> str | None:
    """The canonical column for a header, or None."""
    return aliases.get(normalize_header(header))


# --- values --------------------------------------------------------------------

YES_WORDS = frozenset(
    {"是", "有", "yes", "y", "true", "1", "缺勤", "未到校", "未到", "请假", "到过", "接触过", "√"}
)
NO_WORDS = frozenset(
    {
        "否",
        "无",
        "没有",
        "no",
        "n",
        "false",
        "0",
        "到校",
        "已到校",
        "正常",
        "未到过",
        "未去过",
        "没去过",
        "没有去过",
        "无旅居史",
        "未接触",
        "未接触过",
        "没有接触",
        "无接触史",
        "×",
        "",
    }
)

SESSION_WORDS: dict[str, str] = {
    **{w: Session.MORNING for w in ["晨检", "早", "早上", "上午", "晨", "morning", "am"]},
    **{w: Session.NOON for w in ["午检", "中午", "午", "下午", "noon", "pm"]},
    **{w: Session.EVENING for w in ["晚检", "晚上", "晚", "evening"]},
}

ROLE_WORDS: dict[str, str] = {
    **{w: Role.STUDENT for w in ["学生", "幼儿", "student", "pupil"]},
    **{w: Role.STAFF for w in ["教职工", "教师", "职工", "老师", "员工", "staff", "teacher"]},
}

STATUS_WORDS: dict[str, str] = {
    **{w: Status.ACTIVE for w in ["在校", "在读", "在职", "在籍", "正常", "active", ""]},
    **{w: Status.ON_LEAVE for w in ["请假", "休学", "病休", "休假", "on_leave", "onleave"]},
    **{w: Status.LEFT for w in ["离校", "转出", "退学", "离职", "毕业", "left"]},
}

ABSENCE_WORDS: dict[str, str] = {
    **{w: AbsenceReason.ILLNESS for w in ["病假", "因病", "生病", "疾病", "illness", "sick"]},
    **{w: AbsenceReason.PERSONAL for w in ["事假", "因事", "personal"]},
    **{w: AbsenceReason.OTHER for w in ["其他", "其它", "other"]},
}

ENTRY_KIND_WORDS: dict[str, str] = {
    **{w: EntryKind.STAFF for w in ["值班教职工", "教职工", "值班", "教师", "staff"]},
    **{w: EntryKind.VISITOR for w in ["来访人员", "来访", "访客", "家长", "visitor"]},
    **{w: EntryKind.DELIVERY for w in ["送货", "快递", "外卖", "送餐", "delivery"]},
    **{w: EntryKind.OTHER for w in ["其他", "其它", "施工", "维修", "other"]},
}

# code -> (accepted terms, respiratory)
SYMPTOMS: dict[str, tuple[tuple[str, ...], bool]] = {
    "fever": (("发热", "发烧"), False),
    "cough": (("咳嗽", "干咳"), True),
    "sore_throat": (("咽痛", "咽喉痛", "喉咙痛"), True),
    "shortness_of_breath": (("气促", "气短", "呼吸困难", "胸闷"), True),
    "runny_nose": (("流涕", "流鼻涕", "鼻塞"), False),
    "fatigue": (("乏力",), False),
    "headache": (("头痛",), False),
    "dizziness": (("头晕",), False),
    "chills": (("畏寒",), False),
    "abdominal_pain": (("腹痛",), False),
    "diarrhoea": (("腹泻",), False),
    "vomiting": (("呕吐",), False),
    "rash": (("皮疹",), False),
    "parotid_swelling": (("腮腺肿大",), False),
    "conjunctivitis": (("结膜充血", "红眼"), False),
}
RESPIRATORY_SYMPTOMS = frozenset(code for code, (_, resp) in SYMPTOMS.items() if resp)
NO_SYMPTOM_WORDS = frozenset(
    {"无", "正常", "none", "no", "否", "没有", "无症状", "良好", "健康", ""}
)
# What survey tools write for a question left unanswered; read as an empty cell.
# 问卷星 (wjx.cn) writes (空) for an unanswered question and (跳过) for one its jump
# logic skipped, in its text download ("按文本下载"); either bracket form is accepted.
# Numeric codes of numeric ("按序号") downloads are not listed: such a download is not
# readable as answers anyway (是 is 1), and a -3 must stay a bad temperature.
SURVEY_PLACEHOLDERS = frozenset(
    f"{left}{word}{right}" for word in ("空", "跳过") for left in "(（" for right in ")）"
)

SYMPTOM_SEPARATORS = re.compile(r"[、，,;；/\s|┋+]+")  # ┋: 问卷星's multiple choice
