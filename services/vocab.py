"""The cycle's vocabularies (codes in English, labels in Chinese as users read them)."""

from __future__ import annotations

INSPECTION_KINDS = {
    "comprehensive": "全面督察", "special": "专项督察", "case": "个案督察", "routine": "平时督察",
    "joint": "联合督察", "mobile": "机动式督察", "research": "调研式督察", "lookback": "回头看",
}
INSPECTION_FORMS = {"written": "书面督察", "onsite": "实地督察", "both": "书面+实地"}
# The 8 matters of 003 art. 13, then focus areas from seeds 000/001.
PROBLEM_CATEGORIES = {
    "first_responsibility": "履行推进法治建设第一责任人职责",
    "institution_building": "法治政府建设与制度建设",
    "lawful_decision_making": "依法决策",
    "enforcement": "严格规范公正文明执法",
    "power_supervision": "权力制约监督",
    "dispute_resolution": "矛盾纠纷化解",
    "team_capacity": "法治工作队伍和能力建设",
    "other": "其他",
    "business_environment": "法治化营商环境",
    "yangtze_protection": "长江保护法实施",
    "heads_in_court": "行政机关负责人出庭应诉",
    "three_enforcement_systems": "行政执法三项制度",
}
PROBLEM_SOURCES = {
    "inspection": "督察发现", "clue": "问题线索", "hotline_12345": "12345热线", "petition": "信访",
    "media": "新闻媒体", "judicial_suggestion": "司法建议", "procuratorial_suggestion": "检察建议",
    "reconsideration": "行政复议", "litigation": "行政诉讼",
}
SEVERITIES = {"minor": "轻微", "general": "一般", "major": "较重", "serious": "严重"}
INSPECTOR_CATEGORIES = {
    "deputy_or_member": "“两代表一委员”", "discipline": "纪检监察干部", "court": "法院干部",
    "procuratorate": "检察院干部", "legal": "法律工作者", "mediator": "人民调解员", "office": "法治办干部",
}
INVITED_CATEGORIES = {
    "deputy": "人大代表", "cppcc_member": "政协委员", "expert": "专家学者", "lawyer": "律师",
    "journalist": "新闻记者", "public_representative": "群众代表",
}
METHODS = {
    "hear_reports": "听取汇报", "attend_meetings": "列席会议", "review_files": "查阅资料/执法案卷评查",
    "statistics": "统计分析", "interviews": "个别谈话", "site_visits": "实地察看", "spot_checks": "抽查",
    "unannounced_visits": "暗访", "third_party": "第三方评估", "questionnaires": "问卷调查",
}


def utcnow():  # type: ignore[no-untyped-def]
    """Now, timezone-aware (set in Python so the audit snapshot holds the stored value)."""
    from datetime import UTC, datetime

    return datetime.now(UTC)
