"""Report labels in zh-CN (the default) and en: one catalog, looked up by key.

``t("submission_late", "en", n=12)`` -> ``"late by 12 min"``. Keys are flat
snake_case; families share a prefix so callers can build them from data:
``level_<FlagLevel>``, ``submission_<status>``, ``symptom_<code>``,
``session_<Session>``, ``role_<Role>``, ``status_<Status>``, ``absence_<reason>``,
``kind_<EntryKind>``, ``rule_<cluster rule>`` (and ``rule_<rule>_desc``),
``reason_<schema.Reason>`` (data-quality reasons), ``issue_<schema.Reason>``
(the message of one quarantined row or finding, :func:`issue_message`),
``ingest_<key>`` (why a file was refused, not read or skipped, :func:`ingest_reason`),
``entry_flag_<flag>``, ``entries_<count>``, ``chart_<series>``, ``flag_<fragment>`` (the pieces of the
sentence explaining why a person needs attention) and ``sep_<kind>`` (list
separators). Everything else is a column header or a heading.

An unknown key or language raises :class:`UnknownLabelError` (a
:class:`~reportkit.errors.ReportkitError`, a ``KeyError`` and a ``ValueError``) naming it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from reportkit.errors import IngestError, RefusedFileError, ReportkitError
from reportkit.schema import CENTRAL_SCHOOL, SYMPTOMS, Reason

__all__ = [
    "CATALOG",
    "LANGS",
    "UnknownLabelError",
    "ingest_error",
    "ingest_reason",
    "issue_message",
    "issue_value",
    "labels",
    "level_label",
    "refusal_value",
    "t",
]

LANGS = ("zh-CN", "en")


class UnknownLabelError(ReportkitError, KeyError, ValueError):
    """A label key or language the catalog does not have (exit 1: a key is the program's
    own; the command offers only the languages there are)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_SYMPTOM_EN = {
    "fever": "fever",
    "cough": "cough",
    "sore_throat": "sore throat",
    "shortness_of_breath": "shortness of breath",
    "runny_nose": "runny nose",
    "fatigue": "fatigue",
    "headache": "headache",
    "dizziness": "dizziness",
    "chills": "chills",
    "abdominal_pain": "abdominal pain",
    "diarrhoea": "diarrhoea",
    "vomiting": "vomiting",
    "rash": "rash",
    "parotid_swelling": "parotid swelling",
    "conjunctivitis": "conjunctivitis",
}

# key: (zh-CN, en)
_PAIRS: dict[str, tuple[str, str]] = {
    # --- flag levels (schema.FlagLevel) ---
    "level_fever": ("发热", "fever"),
    "level_key_person": ("重点人员", "key person"),
    "level_symptomatic": ("有症状", "symptomatic"),
    "level_suspected": ("疑似", "suspected"),
    # --- submission of a school's daily report ---
    "submission_on_time": ("按时", "on time"),
    "submission_late": ("迟报{n}分钟", "late by {n} min"),
    "submission_missing": ("未报送", "missing"),
    "submission_closed": ("非报送日", "not a reporting day"),
    "submission_none": ("不单独上报", "no own report"),
    "zero_report": ("今日无异常（零报告）", "Nothing abnormal today (zero report)"),
    "zero_report_short": ("零报告", "zero report"),
    # --- the sentence explaining why a person needs attention ---
    "flag_temperature": ("体温{t}℃", "temperature {t} °C"),
    "flag_key_area": ("14天内到过重点地区", "stayed in a key area in the last 14 days"),
    "flag_key_area_place": (
        "14天内到过重点地区（{place}）",
        "stayed in a key area in the last 14 days ({place})",
    ),
    "flag_contact": (
        "14天内接触过确诊或疑似病例",
        "contact with a confirmed or suspected case in the last 14 days",
    ),
    "flag_monitoring": (
        "医学观察第{n}/{total}天，至{end}",
        "monitoring day {n} of {total}, until {end}",
    ),
    "flag_symptoms_other": ("其他症状：{text}", "other symptoms: {text}"),
    "flag_illness_absence": ("因病缺勤，未记录症状", "absent for illness, no symptom recorded"),
    "sep_items": ("，", ", "),
    "sep_groups": ("；", "; "),
    "sep_names": ("、", ", "),
    "sep_label": ("：", ": "),
    # --- cluster rules (Rules.clusters) ---
    "rule_same_day": ("单日聚集", "same-day cluster"),
    "rule_three_days": ("3日内聚集", "3-day cluster"),
    "rule_clustered_illness": ("聚集性病例", "clustered illness"),
    "rule_same_day_desc": (
        "同一班级同一天有症状者{min_cases}例及以上",
        "{min_cases} or more symptomatic in one class on one day",
    ),
    "rule_three_days_desc": (
        "同一班级连续{days}天内有症状者{min_cases}例及以上",
        "{min_cases} or more symptomatic in one class within {days} consecutive days",
    ),
    "rule_clustered_illness_desc": (
        "同一班级{days}天内有症状者{min_cases}例及以上",
        "{min_cases} or more symptomatic in one class within {days} days",
    ),
    # --- vocabularies ---
    "session_morning": ("晨检", "morning"),
    "session_noon": ("午检", "noon"),
    "session_evening": ("晚检", "evening"),
    "role_student": ("学生", "student"),
    "role_staff": ("教职工", "staff"),
    "status_active": ("在校", "active"),
    "status_on_leave": ("请假/休学", "on leave"),
    "status_left": ("离校", "left"),
    "absence_illness": ("病假", "illness"),
    "absence_personal": ("事假", "personal"),
    "absence_other": ("其他", "other"),
    "kind_staff": ("教职工", "staff"),
    "kind_visitor": ("来访人员", "visitor"),
    "kind_delivery": ("送货人员", "delivery"),
    "kind_other": ("其他", "other"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "none": ("无", "none"),
    # --- data-quality reasons (schema.Reason) ---
    "reason_missing_person_id": ("缺少学号/工号", "no person id"),
    "reason_missing_date": ("缺少日期", "no date"),
    "reason_bad_date": ("日期无法识别", "unreadable date"),
    "reason_unknown_person": ("名册中无此人", "person not on the roster"),
    "reason_unknown_school": ("未知学校", "unknown school"),
    "reason_missing_school": ("缺少学校", "no school"),
    "reason_missing_name": ("缺少姓名", "no name"),
    "reason_duplicate_row": ("重复记录", "duplicate row"),
    "reason_missing_entry_time": ("缺少进校时间", "no entry time"),
    "reason_bad_entry_time": ("进校时间无法识别", "unreadable entry time"),
    "reason_bad_temperature": ("体温无法识别", "unreadable temperature"),
    "reason_impossible_temperature": ("体温不可能", "impossible temperature"),
    "reason_fahrenheit_converted": ("华氏度已换算", "Fahrenheit converted"),
    "reason_unknown_symptom": ("未知症状", "unknown symptom"),
    "reason_bad_session": ("时段无法识别", "unreadable session"),
    "reason_bad_yes_no": ("是/否无法识别", "unreadable yes/no"),
    "reason_bad_timestamp": ("时间无法识别", "unreadable timestamp"),
    "reason_bad_role": ("身份无法识别", "unreadable role"),
    "reason_bad_status": ("状态无法识别", "unreadable status"),
    "reason_bad_absence_reason": ("缺勤原因无法识别", "unreadable absence reason"),
    "reason_name_mismatch": ("姓名与名册不符", "name differs from the roster"),
    "reason_unknown_columns": ("未识别的列", "unknown columns"),
    "reason_wrong_school": ("非本校记录，未写入", "another school's row, not written"),
    "reason_bad_encoding": ("编码无法识别的行", "line in an unreadable encoding"),
    "reason_duplicate_column": ("重复的列", "duplicated column"),
    "reason_conflicting_values": ("重复列取值不一致", "duplicated columns disagree"),
    "reason_head_teacher_conflict": (
        "同班班主任不一致，以先出现的为准",
        "two head teachers for one class: the first is kept",
    ),
    "reason_file_rejected": ("文件被拒收", "file rejected"),
    # --- campus entries (gate register) ---
    "entries_total": ("入校登记", "entries"),
    "entries_fever": ("入校发热", "entries with fever"),
    "entries_unapproved": ("来访未审批", "visitors without approval"),
    "entries_no_temperature": ("未测体温", "no temperature taken"),
    "entries_still_inside": ("闭校后未离校", "still inside after closing"),
    "entry_kind_staff": ("值班教职工", "staff on duty"),
    "entry_kind_visitor": ("来访人员", "visitor"),
    "entry_kind_delivery": ("送货", "delivery"),
    "entry_kind_other": ("其他", "other"),
    "entry_flag_fever": ("发热", "fever"),
    "entry_flag_unapproved": ("来访未审批", "visitor without approval"),
    "entry_flag_no_temperature": ("未测体温", "no temperature taken"),
    "entry_flag_still_inside": ("闭校后未离校", "still inside after closing"),
    # --- chart series ---
    "chart_coverage": ("报告率(%)", "coverage (%)"),
    "chart_fever": ("发热", "fever"),
    "chart_symptomatic": ("有症状", "symptomatic"),
    "chart_suspected": ("疑似", "suspected"),
    "chart_date": ("日期", "date"),
    "chart_count": ("人数", "people"),
    # --- column headers ---
    "school": ("学校", "school"),
    "school_id": ("学校代码", "school code"),
    "district": ("教育局", "district"),
    "town": ("乡镇", "town"),
    "date": ("日期", "date"),
    "name": ("姓名", "name"),
    "person_id": ("学号", "ID"),
    "role": ("身份", "role"),
    "grade": ("年级", "grade"),
    "class": ("班级", "class"),
    "status": ("状态", "status"),
    "expected": ("应报人数", "expected"),
    "reported": ("实报人数", "reported"),
    "coverage": ("报告率", "coverage"),
    "missing": ("未报", "missing"),
    "missing_sessions": ("漏检时段", "missed sessions"),
    "session": ("时段", "session"),
    "absent": ("缺勤", "absent"),
    "illness_absence": ("因病缺勤", "illness absence"),
    "illness_absence_unexplained": ("因病缺勤（原因待查）", "illness absence, cause unknown"),
    "fever": ("发热", "fever"),
    "symptomatic": ("有症状", "symptomatic"),
    "suspected": ("疑似", "suspected"),
    "key_persons": ("重点人员", "key persons"),
    "clusters": ("聚集性", "clusters"),
    "data_quality": ("数据问题", "data issues"),
    "unreachable": ("连续未报", "unreachable"),
    "days_missing": ("连续未报天数", "days missing"),
    "level": ("级别", "level"),
    "reason": ("原因", "reason"),
    "temperature": ("体温(℃)", "temperature (°C)"),
    "symptoms": ("症状", "symptoms"),
    "monitoring_day": ("观察天数", "monitoring day"),
    "monitoring_ends": ("观察截止", "monitoring ends"),
    "submission": ("报送情况", "submission"),
    "last_received": ("最后报送时间", "last received"),
    "minutes_late": ("迟报分钟", "minutes late"),
    "deadline": ("截止时间", "deadline"),
    "rule": ("规则", "rule"),
    "count": ("人数", "count"),
    "people": ("人员", "people"),
    "file": ("文件", "file"),
    "row": ("行", "row"),
    "column": ("字段", "column"),
    "value": ("值", "value"),
    "message": ("说明", "message"),
    "time": ("时间", "time"),
    "kind": ("类别", "kind"),
    "phone": ("电话", "phone"),
    "purpose": ("事由", "purpose"),
    "approved_by": ("审批人", "approved by"),
    "entered_at": ("进校时间", "entered at"),
    "left_at": ("离校时间", "left at"),
    "followup": ("跟进", "follow-up"),
    "total": ("合计", "total"),
    "schools": ("学校", "schools"),
    "schools_expected": ("应报学校数", "schools expected"),
    "schools_submitted": ("已报学校数", "schools submitted"),
    "schools_on_time": ("按时报送学校数", "schools on time"),
    "schools_late": ("迟报学校数", "schools late"),
    "schools_missing": ("未报送学校数", "schools missing"),
    "reporting_rate": ("学校报告率", "reporting rate"),
    "reporting_rate_on_time": ("学校及时报告率", "reporting rate on time"),
    # --- headings ---
    "daily_report": ("晨午检日报", "daily health check report"),
    "district_report": ("晨午检汇总", "district roll-up"),
    "unit_report": ("晨午检汇总", "roll-up"),
    "level_central_school": ("中心校", "central school"),
    "units": ("下级单位与学校", "units and schools"),
    "unit": ("单位", "unit"),
    "unit_level": ("层级", "level"),
    "unit_schools": ("学校报送", "schools submitted"),
    "late_units": ("迟报的下级单位", "units that reported late"),
    "schools_closed": ("非报送日学校数", "schools not reporting today"),
    "form_attached": ("附：上报表", "attached: the upward form"),
    "upward_deadline": ("上报截止", "due upward by"),
    "not_reported": ("未报人员", "not reported"),
    "needs_attention": ("需关注人员", "people who need attention"),
    "fever_list": ("发热人员", "people with fever"),
    "needs_action": ("需处置", "needs action"),
    "not_reported_by_class": ("未报人员（按班级）", "not reported, by class"),
    "missing_of_expected": ("未报/应报", "missing / expected"),
    "names": ("名单", "names"),
    "days_missing_suffix": ("（连续{n}天未报）", " (missing {n} days)"),
    "head_teacher": ("班主任", "head teacher"),
    "class_with_head_teacher": ("{label}（班主任 {name}）", "{label} (head teacher {name})"),
    "reason_unreachable": (
        "连续{n}天未报，需联系核实",
        "not reported for {n} days: get in touch",
    ),
    "illness_absence_followup": ("因病缺勤待追踪", "illness absence to follow up"),
    "per_class": ("分班情况", "by class"),
    "campus_entries": ("入校登记", "campus entries"),
    "trend_14d": ("近14天趋势", "last 14 days"),
}
# the columns of the files, as a data-quality finding names them (field_<canonical column>)
_PAIRS.update(
    {
        "field_person_id": ("学号/工号", "person ID"),
        "field_name": ("姓名", "name"),
        "field_role": ("身份", "role"),
        "field_school_id": ("学校", "school"),
        "field_grade": ("年级", "grade"),
        "field_class": ("班级", "class"),
        "field_status": ("状态", "status"),
        "field_date": ("日期", "date"),
        "field_session": ("时段", "session"),
        "field_temperature": ("体温", "temperature"),
        "field_symptoms": ("症状", "symptoms"),
        "field_absent": ("是否缺勤", "absent"),
        "field_absence_reason": ("缺勤原因", "absence reason"),
        "field_key_area_14d": ("14天内到过重点地区", "key area in 14 days"),
        "field_contact_14d": ("14天内接触史", "contact in 14 days"),
        "field_reported_at": ("填报时间", "reported at"),
        "field_entered_at": ("进校时间", "entered at"),
        "field_left_at": ("离校时间", "left at"),
        "field_kind": ("人员类别", "kind"),
        "field_phone": ("电话", "phone"),
        "field_purpose": ("事由", "purpose"),
        "field_approved_by": ("审批人", "approved by"),
        "field_id_number": ("身份证号", "ID number"),
        "field_line": ("行", "line"),
        "field_header": ("表头", "header"),
        "field_head_teacher": ("班主任", "head teacher"),
        "field_file": ("文件", "file"),
    }
)
# corrections: values changed after their first receipt (reportkit.findings.corrections)
_PAIRS.update(
    {
        "corrections": ("更正记录", "corrections"),
        "flag_corrections": ("学校更正（消除标记）", "corrections that removed a flag"),
        "corrected_values": ("已更正数值", "values corrected"),
        "corrected_mark": ("已更正", "corrected"),
        "corrected_column": ("更正项", "value"),
        "earlier_value": ("首次报送", "first received"),
        "current_value": ("现值", "now"),
        "corrected_at": ("更正时间", "corrected at"),
        "corrected_flag": ("消除的标记", "flag removed"),
        "corrected_flag_fever": ("发热", "fever"),
        "corrected_flag_respiratory": ("呼吸道症状", "respiratory symptom"),
        "corrected_flag_key_area": ("重点地区旅居史", "key-area stay"),
        "corrected_flag_contact": ("病例接触史", "contact with a case"),
        "corrected_col_temperature": ("体温", "temperature"),
        "corrected_col_symptoms": ("症状", "symptoms"),
        "corrected_col_symptoms_other": ("其他症状", "other symptoms"),
        "corrected_col_absent": ("缺勤", "absent"),
        "corrected_col_absence_reason": ("缺勤原因", "absence reason"),
        "corrected_col_key_area": ("重点地区旅居史", "key-area stay"),
        "corrected_col_key_area_place": ("旅居地点", "place"),
        "corrected_col_contact": ("病例接触史", "contact with a case"),
        "view_corrections": ("更正", "corrections"),
        "count_corrections": ("更正 {n} 项", "corrections: {n}"),
    }
)
# the officer's console (reportkit.console.widgets, reportkit.console.views)
_PAIRS.update(
    {
        "action_contacted_family": ("已联系家长", "contacted family"),
        "action_seen_by_doctor": ("已就医", "seen by a doctor"),
        "action_isolated_at_home": ("居家隔离", "isolated at home"),
        "action_returned_to_school": ("已返校", "returned to school"),
        "action_cleared": ("已排除", "cleared"),
        "action": ("跟进措施", "action"),
        "note": ("备注", "note"),
        "officer": ("记录人", "officer"),
        "created_at": ("记录时间", "recorded at"),
        "unexplained": ("原因待查", "cause unknown"),
        "submission_late_short": ("迟报", "late"),
        "all_districts": ("全部地区", "all districts"),
        "all_schools": ("全部学校", "all schools"),
        "all_classes": ("全部班级", "all classes"),
        "view_missing": ("未报", "not reported"),
        "view_attention": ("需关注", "needs attention"),
        "view_clusters": ("聚集性", "clusters"),
        "view_illness_absence": ("因病缺勤", "illness absence"),
        "view_data_quality": ("数据问题", "data issues"),
        "view_followups": ("跟进记录", "follow-ups"),
        "view_submissions": ("报送情况", "submissions"),
        "count_missing": ("未报 {n} 人", "not reported: {n}"),
        "count_missing_sessions": ("漏检时段 {n} 人次", "missed sessions: {n}"),
        "count_attention": ("需关注 {n} 人", "need attention: {n}"),
        "count_clusters": ("聚集性 {n} 起", "clusters: {n}"),
        "count_illness_absence": ("因病缺勤 {n} 人", "illness absence: {n}"),
        "count_data_quality": ("数据问题 {n} 条", "data issues: {n}"),
        "count_followups": ("跟进记录 {n} 条", "follow-ups: {n}"),
        "count_submissions": ("学校 {n} 所", "schools: {n}"),
        "count_part": ("{label} {n}", "{label} {n}"),
        "rows_truncated": (
            "仅显示前 {shown} 行，共 {n} 行（导出可得全部）",
            "first {shown} of {n} rows shown (export has all)",
        ),
        "fever_threshold": ("发热阈值℃", "fever °C"),
        "search": ("搜索", "search"),
        "search_placeholder": ("姓名或学号", "name or ID"),
        "sort_by": ("排序", "sort by"),
        "sort_default": ("默认顺序", "default order"),
        "ascending": ("升序", "ascending"),
        "person": ("人员", "person"),
        "officer_placeholder": ("记录人姓名", "your name"),
        "note_placeholder": ("情况说明（可选）", "what happened (optional)"),
        "record": ("记录跟进", "record follow-up"),
        "recorded": (
            "已记录：{name} {action}（{officer}）",
            "recorded: {name} {action} ({officer})",
        ),
        "officer_required": (
            "请填写记录人姓名，未保存。",
            "Enter the officer's name; nothing was saved.",
        ),
        "person_required": ("请先选择人员，未保存。", "Choose a person first; nothing was saved."),
        "render": ("生成本校报告", "render this school's report"),
        "render_needs_school": ("请先选择一所学校。", "Choose one school first."),
        "rendering": ("正在生成 {school} 的报告…", "rendering the report of {school}…"),
        "rendered": ("报告已生成：", "report rendered: "),
        "render_failed": ("报告生成失败：{error}", "the report failed: {error}"),
        "export": ("导出当前表格", "export view"),
        "reload": ("刷新数据", "reload data"),
        "download": ("下载", "download"),
        "render_rules_threshold": (
            "（报告按规则文件的发热阈值 {t}℃）",
            "(the report uses the rules file's fever threshold, {t} °C)",
        ),
        "exported": ("已导出：", "exported: "),
        "console_title": ("晨午检数据工作台", "health check console"),
        "board": ("今日报送", "today's submissions"),
        "time_left": ("距截止{h}小时{m}分", "{h} h {m} min to the deadline"),
        "past_deadline": ("已过截止时间", "past the deadline"),
        "classes_of": ("{school} 分班情况", "{school} by class"),
        "open_school": ("查看本校名单", "open this school's lists"),
        "link_html": ("网页版报告", "report (web page)"),
        "link_pdf": ("PDF报告", "report (PDF)"),
        "link_pdf_masked": ("PDF报告（隐去姓名）", "report (PDF, names masked)"),
        "link_xlsx": ("导出的表格", "exported sheet"),
        "render_running": (
            "正在生成 {school} 的报告… 已用 {s} 秒",
            "rendering the report of {school}… {s} s",
        ),
        "render_done": ("报告已生成，用时 {s} 秒：", "report rendered in {s} s: "),
    }
)

# email bodies (reportkit.delivery.body)
_PAIRS.update(
    {
        "mail_not_reported_by_class": ("未报人员（按班级）", "Not reported, by class"),
        "mail_missing_too_many": (
            "未报人数较多，仅列各班人数，名单见附件PDF。",
            "Many people have not reported: counts per class only, names in the attached PDF.",
        ),
        "mail_more": ("另有{n}项，见附件PDF", "{n} more in the attached PDF"),
        "mail_people": ("{n}人", "{n}"),
        "mail_n_of": ("{n}/{total}人", "{n} of {total}"),
        "mail_days_missing": ("连续{n}天未报", "missing {n} days"),
        "mail_see_pdf": (
            "完整报告见附件PDF。",
            "The full report is in the attached PDF.",
        ),
        "mail_footer": (
            "本邮件由晨午检系统自动发送，含学生健康信息，请勿转发。",
            "Sent automatically by the health check system. It contains pupils' health "
            "information: do not forward.",
        ),
        "mail_names_masked": ("姓名已部分隐去。", "Names are partly masked."),
        "mail_all_clear": (
            "全员已报，无需关注人员。",
            "Everybody reported; nobody needs attention.",
        ),
        "mail_status_line": ("报送情况", "Submission"),
        "mail_district_counts_only": (
            "本汇总仅含人数，不含个人信息。",
            "This roll-up holds counts only, no personal data.",
        ),
        "mail_schools_not_submitted": ("未报送学校", "Schools that have not submitted"),
        "mail_schools_late": ("迟报学校", "Schools that submitted late"),
        "mail_schools_attention": ("有异常的学校", "Schools with findings"),
        "mail_schools_ok": (
            "其余{n}所学校按时报送、无异常。",
            "The other {n} schools submitted on time with nothing abnormal.",
        ),
        "mail_reminder_title": ("晨午检填报提醒", "Health check-in reminder"),
        # the subjects when delivery.yaml sets none (its own are the deployment's words)
        "mail_subject": (
            "【晨午检日报】{school} {date} 未报{missing}人 疑似{suspected}人",
            "[Daily health check] {school} {date}: {missing} not reported, {suspected} suspected",
        ),
        "mail_district_subject": (
            "【晨午检汇总】{district} {date} 未报送学校{schools_missing}所 疑似{suspected}人",
            "[Health check roll-up] {district} {date}: {schools_missing} schools not "
            "submitted, {suspected} suspected",
        ),
        "mail_reminder_subject": (
            "【晨午检提醒】{school} {date} 尚有{missing}人未报",
            "[Health check reminder] {school} {date}: {missing} not reported yet",
        ),
        "mail_missing_subject": (
            "【晨午检日报】{school} {date} 未报送",
            "[Daily health check] {school} {date}: not submitted",
        ),
        "mail_reminder_intro": (
            "截至{now}，本校尚有{n}人未完成今日填报。请各班主任在{deadline}前督促完成。",
            "As of {now}, {n} people of the school have not checked in today. "
            "Class teachers, please chase them before {deadline}.",
        ),
        "mail_reminder_nothing": (
            "今日尚未收到本校任何填报。",
            "Nothing has been received from the school today.",
        ),
        "mail_missing_count": ("未报人数", "not reported"),
        # a school with no check-in at all for the day (rows == 0)
        "mail_no_data_headline": (
            "未报送：今日未收到本校任何晨午检记录，依赖填报的各项均为无数据（—）。",
            "Not submitted: no check-in from this school today; every figure that "
            "depends on check-ins is unknown (—).",
        ),
        "mail_no_data_people": (
            "应报{n}人，今日无任何填报记录：未报、发热、疑似等情况均无数据，请尽快核实。",
            "{n} people expected and not one check-in received: who is missing, "
            "febrile or suspected is not known. Please check at once.",
        ),
        "pdf_suffix_school": ("晨午检日报", "daily-report"),
        "pdf_suffix_district": ("晨午检汇总", "district-roll-up"),
        "xlsx_suffix_unit": ("日报表", "daily-form"),
    }
)

# the command line's tables (reportkit.cli: ingest; flags uses the report labels)
_PAIRS.update(
    {
        "cli_ingest_title": ("导入{kind}", "ingest {kind}"),
        "cli_ingest_by_name": ("（按文件名识别）", "by file name"),
        "cli_ingest_file": ("文件", "file"),
        "cli_ingest_kind": ("类型", "kind"),
        "cli_ingest_rows_read": ("读取行数", "rows"),
        "cli_ingest_inserted": ("新增", "new"),
        "cli_ingest_updated": ("更新", "updated"),
        "cli_ingest_unchanged": ("未变", "same"),
        "cli_ingest_quarantined": ("隔离", "quarantined"),
        "cli_ingest_findings": ("数据问题", "findings"),
        "cli_ingest_failed": ("失败", "failed"),
        "cli_ingest_seen": ("（已导入过）", " (seen)"),
        "cli_ingest_total": ("合计", "total"),
        "cli_ingest_refused": ("拒收", "REFUSED"),
        "cli_ingest_failed_line": ("失败", "FAILED"),
        "cli_ingest_skipped": ("已跳过 {path}：{reason}", "skipped {path}: {reason}"),
        "cli_ingest_skipped_kind": (
            "已跳过{n}个按文件名属于{kind}的文件（{files}）：请用 ",
            "skipped {n} files named as {kind} ({files}): read them with ",
        ),
        "cli_kind_roster": ("名册", "rosters"),
        "cli_kind_logs": ("晨午检记录", "health logs"),
        "cli_kind_entries": ("门卫登记", "gate registers"),
    }
)

# reports of a school that sent nothing, and the day's index (reportkit.reports.sections, runner)
_PAIRS.update(
    {
        "no_data": ("无数据", "no data"),
        "no_submission_note": (
            "今日未收到本校任何晨午检记录：依赖检测记录的数字均为无数据（—），不是0。",
            "Nothing was received from the school today: figures that depend on check-ins "
            "are unknown (—), not 0.",
        ),
        "missing_no_submission": (
            "本校今日未报送任何记录，名册在册 {n} 人。",
            "The school sent nothing today; {n} people are on its roster.",
        ),
        "totals_of_submitted": (
            "未报送的 {m} 所学校今日无数据：发热、疑似、重点人员等人数不含这些学校今日的情况。",
            "The {m} schools that sent nothing have no data today: the fever, suspected and "
            "key-person counts do not include them.",
        ),
        "index_report": ("报告", "report"),
        "index_link_html": ("网页", "HTML"),
        "index_link_pdf": ("PDF", "PDF"),
        "index_link_pdf_masked": ("PDF（隐去姓名）", "PDF (names masked)"),
        "index_link_xlsx": ("上报表", "upward form"),
        "index_render": ("生成状态", "rendering"),
        "index_files": ("文件", "files"),
        "index_language": ("语言", "language"),
        "index_run": ("生成批次", "run"),
        "render_ok": ("✓ 已生成", "✓ rendered"),
        "render_pending": ("… 未完成", "… not finished"),
        "render_failed_as": ("✗ 失败：{error}", "✗ failed: {error}"),
        "district_submitted": ("已报送 {n}/{total} 所", "{n} of {total} submitted"),
        "lang_zh-CN": ("中文", "Chinese"),
        "lang_en": ("英文", "English"),
    }
)

# Reason texts of quarantined rows and data-quality findings (reportkit.ingest.write):
# issue_<schema.Reason>, {row}, {value} and {column} filled in (see issue_message)
_ISSUES: dict[Reason, tuple[str, str]] = {
    Reason.MISSING_PERSON_ID: ("第{row}行没有学号", "row {row} has no person id"),
    Reason.MISSING_DATE: ("第{row}行没有日期", "row {row} has no date"),
    Reason.BAD_DATE: ("第{row}行日期无法识别：{value}", "row {row}: unreadable date {value}"),
    Reason.UNKNOWN_PERSON: ("第{row}行学号{value}不在花名册中", "row {row}: {value} not on roster"),
    Reason.UNKNOWN_SCHOOL: ("第{row}行学校无法识别：{value}", "row {row}: unknown school {value}"),
    Reason.MISSING_SCHOOL: ("第{row}行没有学校", "row {row} has no school"),
    Reason.MISSING_NAME: ("第{row}行没有姓名", "row {row} has no name"),
    Reason.DUPLICATE_ROW: ("第{row}行被同键的后一行取代", "row {row} replaced by a later row"),
    Reason.MISSING_ENTRY_TIME: ("第{row}行没有进校时间", "row {row} has no entry time"),
    Reason.BAD_ENTRY_TIME: (
        "第{row}行进校时间无法识别：{value}",
        "row {row}: bad entry time {value}",
    ),
    Reason.BAD_TEMPERATURE: (
        "第{row}行体温无法识别：{value}",
        "row {row}: bad temperature {value}",
    ),
    Reason.IMPOSSIBLE_TEMPERATURE: (
        "第{row}行体温不可能：{value}",
        "row {row}: impossible {value}",
    ),
    Reason.FAHRENHEIT_CONVERTED: (
        "第{row}行体温{value}按华氏度换算",
        "row {row}: {value} °F converted",
    ),
    Reason.UNKNOWN_SYMPTOM: (
        "第{row}行症状无法识别：{value}",
        "row {row}: unknown symptom {value}",
    ),
    Reason.BAD_SESSION: (
        "第{row}行时段{value}按晨检处理",
        "row {row}: session {value} taken as morning",
    ),
    Reason.BAD_YES_NO: (
        "第{row}行{column}应为是/否：{value}",
        "row {row}: {column} {value} taken as no",
    ),
    Reason.BAD_TIMESTAMP: ("第{row}行时间无法识别：{value}", "row {row}: unreadable time {value}"),
    Reason.BAD_ROLE: ("第{row}行身份{value}按学生处理", "row {row}: role {value} taken as student"),
    Reason.BAD_STATUS: (
        "第{row}行状态{value}按在校处理",
        "row {row}: status {value} taken as active",
    ),
    Reason.BAD_ABSENCE_REASON: (
        "第{row}行缺勤原因{value}归为其他",
        "row {row}: reason {value} as other",
    ),
    Reason.NAME_MISMATCH: (
        "第{row}行姓名{value}与花名册不符",
        "row {row}: name {value} not as on roster",
    ),
    Reason.UNKNOWN_COLUMNS: ("未识别的列：{value}", "unknown columns: {value}"),
    Reason.WRONG_SCHOOL: (
        "第{row}行学校{value}不是本文件所属学校，未写入",
        "row {row}: school {value} is not this file's school; not written",
    ),
    Reason.BAD_ENCODING: (
        "第{row}行无法按文件编码解码：{value}",
        "line {row} cannot be decoded in the file's encoding: {value}",
    ),
    Reason.DUPLICATE_COLUMN: (
        "重复的列：{value}（使用第一列）",
        "duplicated column: {value} (the first is used)",
    ),
    Reason.CONFLICTING_VALUES: (
        "第{row}行{column}两列不一致：{value}（使用第一列）",
        "row {row}: the two {column} columns differ: {value} (the first is used)",
    ),
    Reason.HEAD_TEACHER_CONFLICT: (
        "第{row}行班主任与同班先出现的不同：{value}（以先出现的为准）",
        "row {row}: another head teacher than the class's first row: {value} (the first is kept)",
    ),
    Reason.FILE_REJECTED: ("文件被拒收：{value}", "file rejected: {value}"),
}
_PAIRS.update({f"issue_{reason.value}": pair for reason, pair in _ISSUES.items()})

_PAIRS.update(
    {f"symptom_{code}": (terms[0], _SYMPTOM_EN[code]) for code, (terms, _) in SYMPTOMS.items()}
)

# versions and re-issues: what changed since the version sent (reportkit.reports.changes)
_PAIRS.update(
    {
        "changes": ("更正说明", "Corrections"),
        "changes_since": (
            "对 {time} 所发报告的更正（第 {version} 版）",
            "Corrections to the report sent at {time} (version {version})",
        ),
        "changes_missing_added": ("新增未报", "added to missing"),
        "changes_missing_removed": ("移出未报（已补报）", "removed from missing (reported since)"),
        "changes_attention_added": ("新增需处置", "added to needs action"),
        "changes_attention_removed": ("移出需处置", "removed from needs action"),
        "changes_clusters_added": ("新增聚集性", "clusters added"),
        "changes_clusters_removed": ("撤销聚集性", "clusters removed"),
        "changes_other": (
            "名单与数字未变，其他内容有更新，详见报告",
            "lists and figures unchanged; other details changed, see the report",
        ),
        "mail_correction_prefix": ("【更正】", "[Correction] "),
    }
)
# Why ingestion refused a file, could not read it, or skipped it (ingest_<key>; see
# ingest_reason): the English is what the exception says. A detail only the library
# or the system can word (a parser's message) is kept in the English text alone; a
# file part or a setting is quoted in `backticks` in the Chinese, as a name to type.
_INGEST: dict[str, tuple[str, str]] = {
    "limit": (
        "上限为 {value}（`rules.yaml` 中的 `limits.{name}`）",
        "the limit is {value} (limits.{name} in rules.yaml)",
    ),
    # readers
    "binary": (
        "不是表格：二进制内容，既不是文本也不是电子表格",
        "not a table: binary content, neither text nor a spreadsheet",
    ),
    "file_too_big": ("文件大小为 {mb} 兆字节；{limit}", "the file is {mb} MB; {limit}"),
    "cannot_read": ("无法读取文件：{detail}", "cannot read file: {detail}"),
    "empty_file": ("空文件", "empty file"),
    "no_header": (
        "不是此类表格：前 {rows} 行中没有表头（至少两个可识别的列，其中一列须为{examples}等）",
        "not a table of this kind: no header row in the first {rows} rows naming at least "
        "two known columns, one of them {required} (e.g. {examples_en})",
    ),
    "not_a_table": ("不是表格：无法按逗号分隔的文本读取", "not a table: {detail}"),
    "too_many_rows": (
        "表头下超过 {max} 行；{limit}",
        "more than {max} rows below the header; {limit}",
    ),
    "too_many_columns": ("有 {width} 列的行；{limit}", "rows of {width} columns; {limit}"),
    "cell_too_long": (
        "第{row}行{column}列：单元格有 {n} 个字符；{limit}",
        "row {row}, column {column_repr}: a cell of {n} characters; {limit}",
    ),
    # workbooks
    "bad_workbook": ("不是表格：无法读取工作簿", "not a table: cannot read workbook: {detail}"),
    "bad_workbook_part": (
        "不是表格：无法读取工作簿部件 `{part}`",
        "not a table: cannot read workbook part {part}: {detail}",
    ),
    "zip_members": ("工作簿含 {n} 个部件；{limit}", "the workbook holds {n} parts; {limit}"),
    "unzipped_size": (
        "工作簿解压后为 {mb} 兆字节；{limit}",
        "the workbook unpacks to {mb} MB; {limit}",
    ),
    "compression_ratio": (
        "部件 `{part}` 解压后为压缩大小的 {ratio} 倍（疑似压缩炸弹）；{limit}",
        "part {part} unpacks {ratio} times its packed size (a zip bomb?); {limit}",
    ),
    "shared_strings": (
        "工作簿的共享字符串占 {mb} 兆字节；{limit}",
        "its shared strings take {mb} MB; {limit}",
    ),
    "part_declares_column": (
        "工作表部件 `{part}` 声明的范围到第 {letters} 列（{n} 列）；{limit}",
        "sheet part {part} declares its size to reach column {letters} ({n} columns); {limit}",
    ),
    "part_refers_column": (
        "工作表部件 `{part}` 引用了第 {letters} 列（{n} 列）；{limit}",
        "sheet part {part} refers to column {letters} ({n} columns); {limit}",
    ),
    "part_declares_row": (
        "工作表部件 `{part}` 声明的范围到第 {n} 行；{limit}",
        "sheet part {part} declares its size to reach row {n}; {limit}",
    ),
    "part_refers_row": (
        "工作表部件 `{part}` 引用了第 {n} 行；{limit}",
        "sheet part {part} refers to row {n}; {limit}",
    ),
    "sheet_wide": (
        "工作表“{sheet}”有 {n} 列；{limit}",
        "sheet {sheet_repr} is {n} columns wide; {limit}",
    ),
    "sheet_reaches_row": (
        "工作表“{sheet}”到第 {n} 行；{limit}",
        "sheet {sheet_repr} reaches row {n}; {limit}",
    ),
    "sheet_rows_below": (
        "工作表“{sheet}”表头下有 {n} 行；{limit}",
        "sheet {sheet_repr} has {n} rows below its header; {limit}",
    ),
    "sheet_cell_long": (
        "工作表“{sheet}”的 {cell} 单元格有 {n} 个字符；{limit}",
        "sheet {sheet_repr}, cell {cell}: {n} characters; {limit}",
    ),
    "reader_timeout": (
        "读取工作簿超过 {seconds} 秒；{limit}",
        "reading the workbook took more than {seconds} s; {limit}",
    ),
    "reader_memory": (
        "工作簿无法在读取进程的内存上限内读取；{limit}",
        "the workbook cannot be read within the reader's memory; {limit}",
    ),
    "reader_memory_asked": (
        "工作簿无法在读取进程的内存上限内读取（需要 {mb} 兆字节）；{limit}",
        "the workbook cannot be read within the reader's memory (it asked for {mb} MB); {limit}",
    ),
    "reader_memory_plain": (
        "工作簿无法在读取进程的内存上限内读取",
        "the workbook cannot be read within the reader's memory",
    ),
    "reader_signal": (
        "电子表格读取进程读此文件时中止（信号 {signal}）",
        "the spreadsheet reader stopped on this file (signal {signal}) {detail}",
    ),
    "reader_exit": (
        "电子表格读取进程读此文件时中止（退出码 {code}）",
        "the spreadsheet reader stopped on this file (exit status {code}) {detail}",
    ),
    # what the file holds, and where it is
    "roster_as_logs": (
        "看起来是健康日志而不是花名册：有{columns}列，却没有身份、年级或班级列；"
        "请用 `reportkit ingest logs {path}` 导入",
        "looks like a health log, not a roster: it has columns {columns} and no role, "
        "grade or class column; ingest it with `reportkit ingest logs {path}`",
    ),
    "logs_as_roster": (
        "看起来是花名册而不是健康日志：有{columns}列，却没有日期、体温或症状列；"
        "请用 `reportkit ingest roster {path}` 导入",
        "looks like a roster, not a health log: it has columns {columns} and no date, "
        "temperature or symptom column; ingest it with `reportkit ingest roster {path}`",
    ),
    "no_roster": (
        "学校 {schools} 没有花名册：请先导入花名册",
        "no roster for school {schools}: ingest the roster first",
    ),
    "no_school": (
        "无法确定所属学校：没有学校列，没有 `--school`，也不在以学校代码命名的文件夹中",
        "cannot tell which school: no school column, no --school, and no folder named "
        "after a school id",
    ),
    "no_date": (
        "没有日期列，标题行和文件名中也没有唯一的带年份的日期",
        "no date column (日期), and no single date with a year in the title rows or the file name",
    ),
    "unknown_school_option": (
        "`--school` 不是 `schools.yaml` 中的学校（{value}）",
        "--school is not a school of schools.yaml",
    ),
    "unexpected": ("读取文件时出现意外错误", "unexpected error reading the file: {detail}"),
    # skipped in a folder
    "skip_lock_file": (
        "工作簿打开时生成的临时锁定文件",
        "an Excel/WPS lock file of an open workbook",
    ),
    "skip_not_table": ("不是表格文件（`{suffixes}`）", "not a table file ({suffixes})"),
    "skip_roster": (
        "按文件名是花名册：请用 `reportkit ingest roster {path}` 读取",
        "a roster by its name: read it with `reportkit ingest roster {path}`",
    ),
    "skip_logs": (
        "按文件名是健康日志：请用 `reportkit ingest logs {path}` 读取",
        "a health log by its name: read it with `reportkit ingest logs {path}`",
    ),
    "skip_entries": (
        "按文件名是门卫登记：请用 `reportkit ingest entries {path}` 读取",
        "a gate register by its name: read it with `reportkit ingest entries {path}`",
    ),
}
_PAIRS.update({f"ingest_{key}": pair for key, pair in _INGEST.items()})

CATALOG: dict[str, dict[str, str]] = {
    key: dict(zip(LANGS, pair, strict=True)) for key, pair in sorted(_PAIRS.items())
}


def _check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise UnknownLabelError(f"unknown language {lang!r}; known: {', '.join(LANGS)}")


def t(key: str, lang: str = "zh-CN", **kwargs: object) -> str:
    """The label ``key`` in ``lang``, formatted with ``kwargs`` (``str.format``)."""
    _check_lang(lang)
    try:
        text = CATALOG[key][lang]
    except KeyError:
        raise UnknownLabelError(f"unknown label key {key!r}") from None
    try:
        return text.format(**kwargs)
    except (KeyError, IndexError) as exc:
        raise UnknownLabelError(f"label {key!r} needs the argument {exc}") from None


def level_label(level: str, lang: str = "zh-CN") -> str:
    """A unit's level as shown: schools.yaml's own words, or the label of a central
    school when the level is the one reportkit gives a school with village schools."""
    return t("level_central_school", lang) if level == CENTRAL_SCHOOL else level


def labels(lang: str = "zh-CN") -> dict[str, str]:
    """Every label in ``lang`` (unformatted), key -> text."""
    _check_lang(lang)
    return {key: texts[lang] for key, texts in CATALOG.items()}


def issue_message(reason: str, row: int, value: str | None, column: str) -> str:
    """The message of a quarantined row or a data-quality finding in both languages,
    ``"中文 / English"``: the ``issue_<reason>`` text with its row, value and column
    (the value of a refused file's finding in each language, see :func:`issue_value`)."""
    key = f"issue_{Reason(reason).value}"

    def text(lang: str) -> str:
        shown = issue_value(reason, value, lang)
        return t(key, lang, row=row, value=shown, column=column)

    return f"{text('zh-CN')} / {text('en')}"


def ingest_reason(key: str, lang: str = "en", params: Mapping[str, object] | None = None) -> str:
    """Why ingestion refused, could not read or skipped a file, in ``lang``: the
    ``ingest_<key>`` text filled in with ``params`` (a limit named by ``limit_name`` and
    ``limit_value`` is worded in the same language)."""
    fields = dict(params or {})
    if "limit_name" in fields:
        fields["limit"] = t(
            "ingest_limit", lang, name=fields["limit_name"], value=fields.get("limit_value", "")
        )
    fields = {name: "" if value is None else value for name, value in fields.items()}
    return t(f"ingest_{key}", lang, **fields).rstrip()


def ingest_error(
    path: object,
    key: str,
    /,
    *,
    refused: bool = True,
    limit: str | None = None,
    limit_value: float | None = None,
    value: object = None,
    fill: Mapping[str, object] | None = None,
    **params: object,
) -> IngestError:
    """The error of a file ingestion cannot use, for its ``ingest_<key>`` reason:
    a :class:`RefusedFileError` (what the file holds: reading it again fails the same
    way) unless ``refused`` is False. Its message is the English text; ``key`` and
    ``params`` (as text) let a report show it in its own language. ``limit`` names the
    limit passed (``limits.<name>`` of rules.yaml), ``limit_value`` its value; ``fill``
    more params, as a mapping."""
    fields = {name: _param(v) for name, v in {**(fill or {}), **params}.items()}
    if limit is not None and limit_value is not None:
        fields["limit_name"], fields["limit_value"] = limit, _limit_shown(limit_value)
    if value is not None:
        fields["value"] = _param(value)
    reason = ingest_reason(key, "en", fields)
    if refused:
        return RefusedFileError(path, reason, limit=limit, key=key, params=fields)
    return IngestError(path, reason, value=value, key=key, params=fields)


def _param(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _limit_shown(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"


# A refused file's finding (reason file_rejected) keeps its reason as a key and its
# params, so that each report words it in its own language.
_REFUSAL_PREFIX = "ingest:"


def refusal_value(key: str | None, params: Mapping[str, str] | None, text: str) -> str:
    """The stored value of a refused file's finding: its reason's key and params when
    it has a key (``ingest:{"key": ..., "params": ...}``), else ``text`` as it is."""
    if key is None:
        return text
    payload = {"key": key, "params": dict(params or {})}
    return _REFUSAL_PREFIX + json.dumps(payload, ensure_ascii=False, sort_keys=True)


def issue_value(reason: object, value: object, lang: str) -> str:
    """A finding's value as a report in ``lang`` shows it: a refused file's reason in
    that language (see :func:`refusal_value`); any other value as it was written."""
    text = "" if value is None else str(value)
    if str(reason) != Reason.FILE_REJECTED.value or not text.startswith(_REFUSAL_PREFIX):
        return text
    try:
        payload = json.loads(text.removeprefix(_REFUSAL_PREFIX))
        return ingest_reason(str(payload["key"]), lang, payload.get("params") or {})
    except (ValueError, KeyError, TypeError):  # not one of ours: shown as stored
        return text
