// The pages' words in English and Russian; the language from ?lang=, else the browser's.
const WORDS = {
  en: {
    wallboard: "Wallboard", user: "User", password: "Password", login: "Log in",
    logout: "Log out", queues: "Queues", agents: "Agents", campaigns: "Campaigns",
    agent: "Agent", state: "State", in_state: "In state", call: "Call",
    calls_today: "Calls today", monitor: "Monitor", waiting: "Waiting",
    longest_wait: "Longest wait", service_level: "Service level", asa: "ASA", aht: "AHT",
    answered: "Answered", abandoned: "Abandoned", offered: "Offered", listen: "Listen",
    whisper: "Whisper", barge: "Barge", lines: "Lines", abandon_24h: "Abandon 24 h",
    abandon_30d: "Abandon 30 d", leads_left: "Leads left", mode: "Mode",
    live: "live", connecting: "connecting", offline: "offline", ringing_you: "Your phone rings",
    logged_out: "logged out", ready: "ready", paused: "paused", wrap_up: "wrap-up",
    on_call: "on call", on_hold: "on hold", reserved: "reserved", ringing: "ringing",
    not_ready: "not ready",
    desktop: "Agent desktop", queue_login: "Log in to queues", ready_button: "Ready",
    pause_button: "Pause", queue_logout: "Log out of queues", break: "Break", lunch: "Lunch",
    training: "Training", meeting: "Meeting", customer: "Customer", queue: "Queue",
    ivr_path: "IVR path", open_crm: "Open in CRM", hold: "Hold", resume: "Resume",
    pause_recording: "Pause recording", resume_recording: "Resume recording",
    transfer: "Transfer", hang_up: "Hang up", connected: "Connected",
    ended: "Ended", withdrawn: "Withdrawn",
  },
  ru: {
    wallboard: "Табло", user: "Пользователь", password: "Пароль", login: "Войти",
    logout: "Выйти", queues: "Очереди", agents: "Операторы", campaigns: "Кампании",
    agent: "Оператор", state: "Состояние", in_state: "В состоянии", call: "Звонок",
    calls_today: "Звонков сегодня", monitor: "Контроль", waiting: "Ждут",
    longest_wait: "Дольше всех", service_level: "Уровень сервиса", asa: "ССО", aht: "СВО",
    answered: "Отвечено", abandoned: "Брошено", offered: "Поступило", listen: "Слушать",
    whisper: "Подсказать", barge: "Вмешаться", lines: "Линии", abandon_24h: "Брошено 24 ч",
    abandon_30d: "Брошено 30 дн", leads_left: "Осталось", mode: "Режим",
    live: "на связи", connecting: "соединение", offline: "нет связи",
    ringing_you: "Звонит ваш телефон", logged_out: "не в системе", ready: "готов",
    paused: "пауза", wrap_up: "обработка", on_call: "разговор", on_hold: "удержание",
    reserved: "назначен", ringing: "звонит", not_ready: "не готов",
    desktop: "Рабочее место", queue_login: "Войти в очереди", ready_button: "Готов",
    pause_button: "Пауза", queue_logout: "Выйти из очередей", break: "Перерыв", lunch: "Обед",
    training: "Обучение", meeting: "Совещание", customer: "Клиент", queue: "Очередь",
    ivr_path: "Путь в IVR", open_crm: "Открыть в CRM", hold: "Удержать", resume: "Вернуть",
    pause_recording: "Остановить запись", resume_recording: "Продолжить запись",
    transfer: "Перевести", hang_up: "Завершить", connected: "Соединён",
    ended: "Завершён", withdrawn: "Снят",
  },
};

export const lang = (() => {
  const asked = new URLSearchParams(location.search).get("lang");
  const browser = (navigator.language || "en").slice(0, 2);
  return WORDS[asked] ? asked : WORDS[browser] ? browser : "en";
})();

export function t(key) {
  return WORDS[lang][key] ?? WORDS.en[key] ?? key;
}

export function translate(root = document) {
  document.documentElement.lang = lang;
  for (const node of root.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
}
