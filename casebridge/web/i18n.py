"""Every string the web UI shows, in Simplified Chinese (the default) and English.

Keys are short names; a missing key shows itself, so a gap is visible rather than silent.
"""

from __future__ import annotations

from dataclasses import dataclass

from casebridge.domain.durations import DurationUnit, parse_duration
from casebridge.domain.errors import InvalidDuration
from casebridge.domain.policy import Policy

LANGUAGES = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # --- chrome ---------------------------------------------------------------------------------
    "app.name": ("Casebridge 劳动者权益协同", "Casebridge"),
    "app.tagline": ("新就业形态劳动者权益保障协同平台", "Case coordination for gig workers' rights"),
    "lang.switch": ("English", "中文"),
    "nav.queue": ("个案队列", "Case queue"),
    "nav.cases": ("个案", "Cases"),
    "nav.intake": ("受理", "Take in"),
    "nav.inbox": ("收件箱", "Inbox"),
    "nav.meetings": ("联席会议", "Joint meetings"),
    "nav.dashboard": ("统计", "Dashboard"),
    "nav.status": ("进度查询", "Check a case"),
    "nav.login": ("工作人员登录", "Staff sign-in"),
    "nav.logout": ("退出", "Sign out"),
    "role.officer": ("个案专员", "case officer"),
    "role.department": ("部门", "department"),
    "role.leader": ("联席会议领导", "leader"),
    "role.admin": ("管理员", "administrator"),
    "common.none": ("—", "—"),
    "common.submit": ("提交", "Submit"),
    "common.cancel": ("取消", "Cancel"),
    "common.yes": ("是", "Yes"),
    "common.no": ("否", "No"),
    "common.more": ("更多", "More"),
    "common.refresh": ("有新进展，点击刷新", "There is news: refresh"),
    "common.optional": ("选填", "optional"),
    "common.saved": ("已完成：{what}", "Done: {what}"),
    "common.total": ("共 {n} 件", "{n} in all"),
    "common.total_capped": ("超过 {n} 件", "more than {n}"),
    "common.back": ("返回", "Back"),
    # --- errors ---------------------------------------------------------------------------------
    "error.title": ("出错了", "Something went wrong"),
    "error.not_found": ("没有找到该页面或个案，或您无权查看。", "No such page or case, or you may not see it."),
    "error.forbidden": ("您无权进行此操作。", "You may not do this."),
    "error.csrf": (
        "请求无效或已过期（安全令牌不符），未做任何更改。请返回并刷新页面后重试。",
        "The request was refused (security token missing or stale); nothing was changed. Go back, reload and retry.",
    ),
    "error.unavailable": ("服务暂不可用，请稍后再试。", "The service is unavailable; try again shortly."),
    "error.form": ("请更正标出的内容后再提交。", "Please correct the marked fields and submit again."),
    "field.required": ("必填", "required"),
    "field.too_long": ("不能超过 {n} 个字符", "at most {n} characters"),
    "field.too_short": ("至少 {n} 个字符", "at least {n} characters"),
    "field.phone": ("请填写 11 位手机号（1 开头）", "an 11-digit mainland mobile number starting with 1"),
    "field.code": ("请选择一项", "choose one"),
    "field.amount": ("请填写金额（最多两位小数）", "an amount with at most two decimals"),
    "field.control": ("含有不允许的控制字符", "contains a control character"),
    "field.choice": ("请选择", "choose one"),
    "field.invalid": ("格式不正确", "not valid"),
    "field.duration": (
        "时限格式如“10 working days”“7 days”",
        'a period such as "10 working days" or "7 days"',
    ),
    "field.last4": ("请填写手机号后四位数字", "the last four digits of the phone"),
    "field.case_id": ("请填写个案编号", "the case id"),
    # --- login ----------------------------------------------------------------------------------
    "login.title": ("工作人员登录", "Staff sign-in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码错误", "Wrong username or password"),
    "login.demo": (
        "演示账号：officer、hrss、justice、traffic、leader，密码 demo",
        "Demo users: officer, hrss, justice, traffic, leader; password demo",
    ),
    # --- worker status --------------------------------------------------------------------------
    "status.title": ("查询我的诉求进度", "Check my case"),
    "status.intro": (
        "输入受理时拿到的个案编号和您手机号的后四位，即可查看办理进度。不需要登录。",
        "Enter the case id you were given and the last four digits of your phone. No sign-in needed.",
    ),
    "status.case_id": ("个案编号", "Case id"),
    "status.last4": ("手机号后四位", "Last 4 digits of your phone"),
    "status.submit": ("查询", "Look up"),
    "status.not_found": (
        "没有找到该个案，请核对编号和手机号后四位。",
        "No case matches that id and phone number; please check both.",
    ),
    "status.throttled": ("查询过于频繁，请稍后再试。", "Too many lookups; please try again later."),
    "status.your_case": ("您的诉求 {id}", "Your case {id}"),
    "status.updated": ("最近更新", "Last updated"),
    "status.next": ("下一步", "What happens next"),
    "status.help": (
        "如有疑问，可到就近的暖心驿站或拨打 12345 热线咨询。",
        "Questions? Ask at any rest station (暖心驿站) or call the 12345 hotline.",
    ),
    "next.pending_ack": (
        "您的诉求已转交相关部门，正在等待部门签收，签收后会开始办理。",
        "Your case has been passed to the departments responsible; they will acknowledge it and start work.",
    ),
    "next.working": (
        "相关部门正在办理您的诉求。办理有结果后，工作人员会联系您。",
        "The departments are working on your case. A case officer will contact you when there is a result.",
    ),
    "next.waiting": (
        "办理部门正在等待其他部门的认定结果（例如事故责任认定），期间时限暂停计算。",
        "A department is waiting for another's finding (an accident liability finding, say); its clock is paused.",
    ),
    "next.escalated": (
        "您的诉求已提交多部门联席会议研究，会议决定后将由相关部门限期办理。",
        "Your case has gone to the joint meeting of the departments; its decision sets who acts and by when.",
    ),
    "next.resolved": (
        "您的诉求已办结。工作人员会回访您，请告诉我们是否满意；如不满意将重新办理。",
        "Your case is resolved. A case officer will ask whether you are satisfied; if not, it is reopened.",
    ),
    "next.closed": ("您的诉求已结案。感谢您的反馈。", "Your case is closed. Thank you for your feedback."),
    "next.withdrawn": ("该诉求已撤回。如需帮助，可重新提出。", "This case was withdrawn. You can raise it again."),
    # --- statuses -------------------------------------------------------------------------------
    "case.in_progress": ("办理中", "in progress"),
    "case.escalated": ("已提请联席会议", "at the joint meeting"),
    "case.resolved": ("已办结（待回访）", "resolved (awaiting feedback)"),
    "case.closed": ("已结案", "closed"),
    "case.withdrawn": ("已撤回", "withdrawn"),
    "case.open": ("未结个案", "open cases"),
    "case.all": ("全部状态", "all statuses"),
    "assignment.pending_ack": ("待签收", "to acknowledge"),
    "assignment.acknowledged": ("已签收", "acknowledged"),
    "assignment.completed": ("已办结", "completed"),
    "assignment.returned": ("已退回", "returned"),
    "role.lead": ("牵头", "lead"),
    "role.assist": ("配合", "assisting"),
    "flag.overdue": ("超期", "overdue"),
    "flag.warning": ("预警", "warning"),
    "flag.suspended": ("时限中止", "clock suspended"),
    "flag.supervised": ("挂牌督办", "supervised"),
    "flag.provisional": ("暂定时限", "provisional"),
    "flag.extension_requested": ("延期待审批", "extension requested"),
    "flag.suspension_requested": ("中止待审批", "suspension requested"),
    "meeting.planned": ("议程征集中", "agenda open"),
    "meeting.agenda_approved": ("议程已审定", "agenda approved"),
    "meeting.closed": ("已闭会", "closed"),
    # --- countdowns -----------------------------------------------------------------------------
    "cd.ack": ("签收", "acknowledge"),
    "cd.resolve": ("办结", "resolve"),
    "cd.days_left": ("剩 {n} 个工作日", "{n} working days left"),
    "cd.today": ("今日 24:00 前", "by midnight today"),
    "cd.overdue_days": ("已超期 {n} 个工作日", "overdue by {n} working days"),
    "cd.overdue": ("已超期", "overdue"),
    "cd.left": ("剩", "left:"),
    "cd.h": ("小时", "h"),
    "cd.m": ("分", "min"),
    "cd.s": ("秒", "s"),
    "cd.due": ("截止", "due"),
    # --- queue ----------------------------------------------------------------------------------
    "queue.title": ("待办个案（按紧急程度）", "Cases by urgency"),
    "queue.title_dept": ("本单位个案", "Our cases"),
    "queue.search": ("搜索标题、描述或姓名", "Search title, description or name"),
    "queue.status": ("状态", "Status"),
    "queue.category": ("类别", "Category"),
    "queue.department": ("单位", "Department"),
    "queue.any": ("全部", "all"),
    "queue.filter": ("筛选", "Filter"),
    "queue.empty": ("没有符合条件的个案。", "No cases match."),
    "queue.id": ("编号", "Id"),
    "queue.case": ("个案", "Case"),
    "queue.worker": ("劳动者", "Worker"),
    "queue.assignments": ("派单任务", "Assignments"),
    "queue.due": ("最近期限", "Next deadline"),
    "queue.counts": ("超期 {overdue} 件 · 预警 {warning} 件", "{overdue} overdue · {warning} with a warning"),
    # --- intake ---------------------------------------------------------------------------------
    "intake.title": ("受理新诉求", "Take in a case"),
    "intake.worker": ("劳动者信息", "The worker"),
    "intake.name": ("姓名", "Name"),
    "intake.phone": ("手机号", "Mobile phone"),
    "intake.occupation": ("职业", "Occupation"),
    "intake.platform": ("平台/单位", "Platform or employer"),
    "intake.case": ("诉求", "The complaint"),
    "intake.category": ("诉求类别", "Category"),
    "intake.choose": ("请选择类别", "Choose a category"),
    "intake.title_field": ("标题", "Title"),
    "intake.description": ("详细描述", "Description"),
    "intake.station": ("受理地点（驿站）", "Where (station)"),
    "intake.counterparty": ("被投诉对象", "Complaint against"),
    "intake.amount": ("诉求金额（元）", "Amount claimed (CNY)"),
    "intake.routing": ("派单与时限", "Routing and deadlines"),
    "intake.routing_hint": (
        "选择类别后，这里显示政策将派给哪些单位、适用哪些时限。",
        "Choose a category to see where the policy routes it and which deadlines apply.",
    ),
    "intake.lead": ("牵头单位", "Lead department"),
    "intake.assist": ("配合单位", "Assisting departments"),
    "intake.by_policy": ("按政策", "policy"),
    "intake.ack_within": ("签收时限", "Acknowledge within"),
    "intake.resolve_within": ("办结时限", "Resolve within"),
    "intake.warn_at": ("预警节点", "Warnings at"),
    "intake.escalate_after": ("超期后提请联席会议", "Escalate when overdue by"),
    "intake.if_now": (
        "如现在受理：签收截止 {ack}，办结截止 {due}",
        "Taken in now: acknowledge by {ack}, resolve by {due}",
    ),
    "intake.provisional": ("（日历尚未公布，时限为暂定）", "(calendar not yet published: provisional)"),
    "intake.override": (
        "如需改派，可更改牵头/配合单位；第一个为牵头单位。",
        "Change the lead or assisting departments to route differently.",
    ),
    "intake.submit": ("受理并派单", "Take in and route"),
    "intake.created": ("已受理 {id}，已按上述单位派单。", "Case {id} taken in and routed."),
    # --- case page ------------------------------------------------------------------------------
    "case.worker": ("劳动者", "Worker"),
    "case.phone": ("手机", "Phone"),
    "case.occupation": ("职业", "Occupation"),
    "case.platform": ("平台", "Platform"),
    "case.station": ("受理地点", "Station"),
    "case.counterparty": ("被投诉对象", "Against"),
    "case.amount_claimed": ("诉求金额", "Amount claimed"),
    "case.amount_recovered": ("已追回", "Recovered"),
    "case.created": ("受理时间", "Taken in"),
    "case.category": ("类别", "Category"),
    "case.channel": ("来源", "Channel"),
    "case.meeting": ("联席会议", "Joint meeting"),
    "case.assignments": ("派单任务", "Assignments"),
    "case.timeline": ("办理记录", "Timeline"),
    "case.actions": ("可办理的操作", "What you can do now"),
    "case.no_actions": ("当前没有需要您办理的操作。", "Nothing for you to do on this case now."),
    "case.description": ("诉求描述", "Description"),
    "case.issued": ("派单", "issued"),
    "case.pending_request": ("申请：{what}", "Request: {what}"),
    "case.live": ("本页会随办理进展自动更新", "This page updates itself as the case moves"),
    # --- actions --------------------------------------------------------------------------------
    "act.route": ("派单（增派/改派单位）", "Route to a department"),
    "act.escalate": ("提请联席会议", "Escalate to the joint meeting"),
    "act.resolve": ("办结个案", "Resolve the case"),
    "act.feedback": ("记录回访", "Record the worker's feedback"),
    "act.withdraw": ("撤回个案", "Withdraw the case"),
    "act.decide_extension": ("审批延期申请", "Decide the extension request"),
    "act.decide_suspension": ("审批时限中止申请", "Decide the suspension request"),
    "act.suspend": ("中止时限", "Suspend the clock"),
    "act.suspend_request": ("申请中止时限", "Ask to suspend the clock"),
    "act.resume": ("恢复计时", "Resume the clock"),
    "act.acknowledge": ("签收", "Acknowledge"),
    "act.return": ("退回", "Return"),
    "act.progress": ("报告办理进展", "Report progress"),
    "act.extension": ("申请延期", "Request an extension"),
    "act.complete": ("办结本单位任务", "Complete our assignment"),
    "act.position": ("提交本单位意见（联席会议）", "Our position for the joint meeting"),
    "fld.department": ("单位", "Department"),
    "fld.role": ("角色", "Role"),
    "fld.reason": ("理由", "Reason"),
    "fld.note": ("进展说明", "Progress note"),
    "fld.outcome": ("办理结果", "Outcome"),
    "fld.summary": ("办结情况", "Summary"),
    "fld.amount_recovered": ("追回金额（元）", "Amount recovered (CNY)"),
    "fld.satisfied": ("劳动者是否满意", "Is the worker satisfied?"),
    "fld.comment": ("回访意见", "Comment"),
    "fld.approved": ("审批", "Decision"),
    "fld.approve": ("同意", "Approve"),
    "fld.reject": ("不同意", "Reject"),
    "fld.duration": ("延期时长", "Extension"),
    "fld.until_department": ("等待单位（其办结后自动恢复）", "Wait for (resumes when it completes)"),
    "fld.statement": ("本单位意见", "Our position"),
    "fld.decision": ("会议决定", "Decision"),
    "fld.lead_department": ("牵头单位", "Lead department"),
    "fld.assist_departments": ("配合单位", "Assisting departments"),
    "fld.resolve_within": ("办结时限", "Resolve within"),
    "fld.title": ("会议名称", "Title"),
    "fld.scheduled_for": ("会议时间", "When"),
    # --- inbox ----------------------------------------------------------------------------------
    "inbox.title": ("{dept} 收件箱", "{dept} inbox"),
    "inbox.to_ack": ("待签收（按签收期限）", "To acknowledge (by deadline)"),
    "inbox.working": ("办理中（按办结期限）", "In hand (by deadline)"),
    "inbox.empty": ("没有待办理的派单任务。", "No open assignments."),
    "inbox.open_case": ("打开个案", "Open the case"),
    # --- meetings -------------------------------------------------------------------------------
    "meetings.title": ("联席会议", "Joint meetings"),
    "meetings.empty": ("还没有联席会议。个案提请后会自动列入议程。", "No meetings yet; escalated cases plan one."),
    "meetings.items": ("{n} 个议题", "{n} items"),
    "meetings.new": ("召集会议", "Convene a meeting"),
    "meeting.agenda": ("议程", "Agenda"),
    "meeting.follow_up": ("前次会议决定落实情况", "Earlier decisions being followed up"),
    "meeting.proposals": ("突出问题建议", "Systemic issues proposed"),
    "meeting.accept": ("列入议题", "Put on the agenda"),
    "meeting.dismiss": ("驳回", "Dismiss"),
    "meeting.approve": ("审定议程", "Approve the agenda"),
    "meeting.close": ("闭会并发布纪要", "Close and publish the minutes"),
    "meeting.minutes": ("会议纪要", "Minutes"),
    "meeting.agenda_docx": ("下载议程（Word）", "Agenda (.docx)"),
    "meeting.minutes_docx": ("下载纪要（Word）", "Minutes (.docx)"),
    "meeting.print": ("打印版", "Printable"),
    "meeting.up": ("上移", "Move up"),
    "meeting.down": ("下移", "Move down"),
    "meeting.drop": ("移出议程", "Drop from the agenda"),
    "meeting.decide": ("记录会议决定", "Record the decision"),
    "meeting.decided": ("会议决定", "Decision"),
    "meeting.positions": ("各单位意见", "Departments' positions"),
    "meeting.no_positions": ("尚无单位提交意见", "No position statements yet"),
    "meeting.reason": ("提请事由", "Why it is here"),
    "meeting.overdue_days": ("超期 {n} 个工作日", "{n} working days overdue"),
    "meeting.carried": ("自 {id} 转来", "carried over from {id}"),
    "meeting.topic": ("突出问题", "Systemic issue"),
    "meeting.returns": ("退回记录", "Returns"),
    "meeting.suspensions": ("时限中止", "Suspensions"),
    "meeting.empty_agenda": ("议程为空。", "The agenda is empty."),
    "meeting.scheduled": ("会议时间", "Scheduled"),
    "meeting.cases": ("涉及个案", "Cases"),
    "meeting.lead_status": ("牵头单位进度", "Lead's progress"),
    # --- dashboard ------------------------------------------------------------------------------
    "dash.title": ("运行统计", "Dashboard"),
    "dash.open": ("未结个案", "Open cases"),
    "dash.overdue": ("超期个案", "Overdue cases"),
    "dash.escalated": ("联席会议中", "At the joint meeting"),
    "dash.avg_days": ("平均办结天数", "Average days to resolve"),
    "dash.satisfaction": ("满意率", "Satisfaction"),
    "dash.satisfaction_of": ("{n} 次回访中 {s} 次满意", "{s} of {n} satisfied"),
    "dash.rates": ("各单位按时签收率与按时办结率", "On-time acknowledgement and completion by department"),
    "dash.ack_rate": ("按时签收", "acknowledged on time"),
    "dash.done_rate": ("按时办结", "completed on time"),
    "dash.open_overdue": ("在办 {open} · 超期 {overdue}", "open {open} · overdue {overdue}"),
    "dash.by_category": ("近 12 周各类诉求受理量", "Cases taken in per week, by category (12 weeks)"),
    "dash.no_data": ("暂无数据", "no data yet"),
    "dash.days": ("{n} 天", "{n} days"),
}

EVENT_LABELS: dict[str, tuple[str, str]] = {
    "case.created": ("受理", "taken in"),
    "assignment.issued": ("派单", "assignment issued"),
    "assignment.acknowledged": ("签收", "acknowledged"),
    "assignment.returned": ("退回", "returned"),
    "assignment.progress_reported": ("报告进展", "progress reported"),
    "assignment.extension_requested": ("申请延期", "extension requested"),
    "assignment.extension_approved": ("同意延期", "extension approved"),
    "assignment.extension_rejected": ("不同意延期", "extension rejected"),
    "assignment.suspension_requested": ("申请中止时限", "suspension requested"),
    "assignment.suspension_rejected": ("中止申请未获同意", "suspension not granted"),
    "assignment.suspended": ("时限中止", "clock suspended"),
    "assignment.resumed": ("恢复计时", "clock resumed"),
    "assignment.warning": ("预警", "warning"),
    "assignment.overdue": ("超期", "overdue"),
    "assignment.deadline_recomputed": ("时限重算", "deadline recomputed"),
    "assignment.completed": ("办结", "completed"),
    "case.escalated": ("提请联席会议", "escalated to the joint meeting"),
    "case.added_to_agenda": ("列入会议议程", "put on the agenda"),
    "case.removed_from_agenda": ("移出会议议程", "dropped from the agenda"),
    "case.decision_recorded": ("联席会议决定", "joint meeting decided"),
    "case.resolved": ("办结", "resolved"),
    "case.feedback_recorded": ("回访", "feedback recorded"),
    "case.reopened": ("重办", "reopened"),
    "case.closed": ("结案", "closed"),
    "case.withdrawn": ("撤回", "withdrawn"),
}

# English names of the shipped departments and categories; the policy holds the Chinese ones.
DEPARTMENTS_EN = {
    "hrss": "Human Resources & Social Security",
    "justice": "Justice / legal aid",
    "traffic": "Traffic police / Transport",
}
CATEGORIES_EN = {
    "wage_arrears": "Unpaid wages",
    "work_injury": "Work injury",
    "traffic_accident": "Traffic accident liability",
    "social_insurance": "Social insurance",
    "labor_relation": "Employment relationship",
    "platform_rules": "Platform rules",
    "safety_hazard": "Safety hazard",
    "other": "Other",
}
UNITS = {
    DurationUnit.WORKING_DAYS: ("{n} 个工作日", "{n} working days"),
    DurationUnit.DAYS: ("{n} 天", "{n} days"),
    DurationUnit.HOURS: ("{n} 小时", "{n} hours"),
    DurationUnit.MINUTES: ("{n} 分钟", "{n} minutes"),
    DurationUnit.SECONDS: ("{n} 秒", "{n} seconds"),
}


@dataclass(frozen=True)
class Translator:
    lang: str
    policy: Policy

    @property
    def en(self) -> bool:
        return self.lang == "en"

    def __call__(self, key: str, **values: object) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            return key
        text = pair[1] if self.en else pair[0]
        return text.format(**values) if values else text

    def pick(self, zh: str, en: str) -> str:
        return en if self.en else zh

    def paren(self, text: str) -> str:
        """An aside in brackets: full-width in Chinese, ASCII after a space in English."""
        return f" ({text})" if self.en else f"（{text}）"

    def both(self, text: str) -> str:
        """A "中文 / English" message from the API in this language."""
        zh, sep, en = text.partition(" / ")
        return (en if self.en else zh) if sep else text

    def event(self, type_: str) -> str:
        pair = EVENT_LABELS.get(type_)
        return (pair[1] if self.en else pair[0]) if pair else type_

    def department(self, code: str | None) -> str:
        if not code:
            return "—"
        if self.en:
            return DEPARTMENTS_EN.get(code, code)
        department = self.policy.departments.get(code)
        return department.name if department else code

    def category(self, code: str) -> str:
        if self.en:
            return CATEGORIES_EN.get(code, code)
        category = self.policy.categories.get(code)
        return category.label if category else code

    def duration(self, text: str | None) -> str:
        if not text:
            return "—"
        try:
            duration = parse_duration(text)
        except InvalidDuration:
            return text
        zh, en = UNITS[duration.unit]
        return (en if self.en else zh).format(n=duration.amount)
