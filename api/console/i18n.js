// Console labels in Chinese and English; Chinese first, as the district's staff read them.
const LABELS = {
  "app.title": ["无人机巡查平台", "Drone patrol platform"],
  "app.logout": ["退出", "Sign out"],
  "login.subtitle": ["机库无人机巡查 · 违建 · 环保 · 防火", "Dock-based drone patrols · construction · pollution · fire"],
  "login.username": ["用户名", "Username"],
  "login.password": ["密码", "Password"],
  "login.submit": ["登录", "Sign in"],
  "login.failed": ["登录失败", "Sign-in failed"],
  "tab.map": ["态势总览", "Overview"],
  "tab.operator": ["调度", "Operations"],
  "tab.tickets": ["工单", "Tickets"],
  "tab.review": ["变化审核", "Review"],
  "tab.ops": ["运营中心", "Ops centre"],
  "tab.admin": ["系统管理", "Admin"],
  "role.admin": ["管理员", "Admin"],
  "role.operator": ["调度员", "Operator"],
  "role.enforcement": ["城管执法", "Enforcement"],
  "role.environmental": ["生态环境", "Environmental"],
  "role.fire": ["消防应急", "Fire & emergency"],
  "role.ops_centre": ["运营中心", "Operations centre"],
  "status.ready": ["就绪", "Ready"],
  "status.charging": ["充电中", "Charging"],
  "status.flying": ["飞行中", "Flying"],
  "status.maintenance": ["维护", "Maintenance"],
  "status.offline": ["离线", "Offline"],
  "status.planned": ["已规划", "Planned"],
  "status.completed": ["已完成", "Completed"],
  "status.failed": ["失败", "Failed"],
  "status.landed": ["已降落", "Landed"],
  "status.pending": ["待执行", "Pending"],
  "layer.grids": ["网格", "Grids"],
  "layer.areas": ["巡查区域", "Patrol areas"],
  "layer.nofly": ["禁飞区", "No-fly zones"],
  "layer.docks": ["机库", "Docks"],
  "layer.findings": ["发现", "Findings"],
  "layer.tracks": ["航迹", "Flight tracks"],
  "layer.routes": ["规划航线", "Planned routes"],
  "map.nobase": ["底图：网格与区域轮廓（离线，无互联网瓦片）", "Base: grid and area outlines (offline, no internet tiles)"],
  "overview.title": ["态势总览", "Overview"],
  "overview.docks": ["机库", "Docks"],
  "overview.areas": ["巡查区域", "Patrol areas"],
  "overview.flights": ["架次", "Flights"],
  "overview.findings": ["发现", "Findings"],
  "overview.fleet": ["机库状态", "Fleet status"],
  "overview.recentFlights": ["最近架次", "Recent flights"],
  "overview.findingsByCat": ["按类别的发现", "Findings by category"],
  "operator.docks": ["机库", "Docks"],
  "operator.plan": ["规划巡查任务", "Plan a patrol"],
  "operator.area": ["区域", "Area"],
  "operator.dock": ["机库", "Dock"],
  "operator.nearest": ["最近的机库", "Nearest dock"],
  "operator.planBtn": ["生成航线", "Plan route"],
  "operator.missions": ["任务", "Missions"],
  "operator.launch": ["立即起飞", "Launch now"],
  "operator.abort": ["中止", "Abort"],
  "operator.pendingLaunch": ["等待巡查服务执行起飞", "Launch waiting for the patrol service"],
  "operator.pendingAbort": ["等待巡查服务执行返航", "Abort waiting for the patrol service"],
  "operator.schedules": ["巡查计划", "Schedules"],
  "operator.setMaintenance": ["设为维护", "Set maintenance"],
  "operator.setReady": ["设为就绪", "Set ready"],
  "operator.noMissions": ["暂无任务。选择区域生成航线。", "No missions yet. Pick an area to plan one."],
  "operator.confirmLaunch": ["确认起飞任务", "Launch mission"],
  "operator.confirmAbort": ["确认中止任务", "Abort mission"],
  "ops.title": ["运营中心", "Operations centre"],
  "ops.ticketsByDept": ["各部门工单", "Tickets by department"],
  "ops.ticketsByStatus": ["工单状态", "Tickets by status"],
  "ops.noTickets": ["暂无工单数据。", "No tickets yet."],
  "ops.audit": ["操作日志", "Audit log"],
  "admin.users": ["用户", "Users"],
  "admin.addUser": ["添加用户", "Add user"],
  "admin.tokens": ["机器令牌", "Machine tokens"],
  "admin.issueToken": ["签发令牌", "Issue token"],
  "admin.revoke": ["吊销", "Revoke"],
  "admin.tokenOnce": ["令牌只显示一次，请立即保存：", "Shown once — store it now:"],
  "admin.allowList": ["飞行器地址白名单", "Vehicle address allow-list"],
  "admin.save": ["保存", "Save"],
  "admin.audit": ["操作日志", "Audit log"],
  "common.name": ["名称", "Name"],
  "common.status": ["状态", "Status"],
  "common.roles": ["角色", "Roles"],
  "common.department": ["部门", "Department"],
  "common.when": ["时间", "When"],
  "common.who": ["操作人", "Who"],
  "common.what": ["操作", "Action"],
  "common.resource": ["对象", "Resource"],
  "common.none": ["无", "None"],
  "common.saved": ["已保存", "Saved"],
  "common.loading": ["加载中…", "Loading…"],
  "cat.construction": ["违建治理", "Illegal construction"],
  "cat.pollution": ["环保监测", "Pollution"],
  "cat.fire": ["森林防火", "Fire risk"],
  "dept.enforcement": ["城管执法", "Enforcement"],
  "dept.environmental": ["生态环境", "Environmental"],
  "dept.fire_emergency": ["消防应急", "Fire & emergency"],
  "unit.min": ["分钟", "min"],
  "unit.photos": ["张照片", "photos"],
};

let lang = localStorage.getItem("dockpatrol.lang") === "en" ? "en" : "zh";

export function t(key) {
  const entry = LABELS[key];
  if (!entry) return key.split(".").pop();
  return entry[lang === "zh" ? 0 : 1];
}

export function currentLang() {
  return lang;
}

export function toggleLang() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("dockpatrol.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

/** Fill every element carrying data-i18n with its label in the current language. */
export function applyLabels(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll(".lang-toggle")) el.textContent = lang === "zh" ? "EN" : "中文";
}
