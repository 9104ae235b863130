"""Generate the example IVR's prompts with espeak-ng and sox (8 kHz mono 16-bit WAV).

Run from the repository root: ``python examples/ivr/make_prompts.py``.  It writes
``examples/prompts/{en,ru}/…`` for every prompt ``examples/ivr/main.toml`` plays,
including the number and currency fragments :mod:`pbx.ivr.say` composes amounts from,
and leaves existing files alone unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

VOICES = {"en": "en-us", "ru": "ru"}

PHRASES = {
    "en": {
        "welcome": "Welcome to the example contact center.",
        "menu": "For sales, press 1. For support, press 2. For your account balance, "
        "press 3. To request a callback, press 8. To leave a message, press 9. "
        "For the operator, press 0.",
        "invalid": "Sorry, that is not a valid choice.",
        "no-input": "Sorry, we did not hear your choice.",
        "enter-pin": "Please enter your four digit PIN.",
        "wrong-pin": "Sorry, that PIN is not correct.",
        "your-balance-is": "Your balance is",
        "callback-requested": "Thank you. We will call you back.",
        "goodbye": "Goodbye.",
        "conference-locked": "Sorry, this conference is locked.",
        "conference-full": "Sorry, this conference is full.",
        "vm-enter-pin": "Please enter your mailbox PIN.",
        "vm-new-messages": "New messages:",
        "vm-saved-messages": "Saved messages:",
        "vm-menu": "To listen to new messages, press 1. For saved messages, press 2. "
        "To record your greeting, press 3. To exit, press star.",
        "vm-message": "Message",
        "vm-message-menu": "To hear it again, press 5. To delete it, press 7. "
        "For the next message, press 9. For the main menu, press star.",
        "vm-no-messages": "There are no messages here.",
        "vm-no-more": "No more messages.",
        "vm-deleted": "Message deleted.",
        "vm-record-greeting": "After the tone, say your greeting, then press the hash key.",
        "vm-greeting-saved": "Your greeting is saved.",
        "transfer-sales": "Connecting you to sales.",
        "transfer-support": "Connecting you to support.",
        "reminder-intro": "Hello. This is a payment reminder from the example contact center. "
        "A payment of",
        "reminder-due": "is due on",
        "reminder-menu": "To confirm, press 1. To hear this again, press 2. "
        "To speak to an operator, press 0.",
        "reminder-thanks": "Thank you. Goodbye.",
        "reminder-voicemail": "This is a payment reminder from the example contact center. "
        "Please call us back. Goodbye.",
        "dialer-abandon": "Sorry, all our agents are busy. We will call you again later. Goodbye.",
        "dollar": "dollar",
        "dollars": "dollars",
        "cent": "cent",
        "cents": "cents",
        "digits/hundred": "hundred",
        "digits/thousand": "thousand",
        "digits/million": "million",
        "digits/minus": "minus",
    },
    "ru": {
        "welcome": "Здравствуйте! Вы позвонили в демонстрационный контакт-центр.",
        "menu": "Отдел продаж, нажмите 1. Поддержка, 2. Баланс счёта, 3. "
        "Обратный звонок, 8. Оставить сообщение, 9. Оператор, 0.",
        "invalid": "Извините, такого варианта нет.",
        "no-input": "Извините, мы не услышали ваш выбор.",
        "enter-pin": "Введите четырёхзначный пин-код.",
        "wrong-pin": "Неверный пин-код.",
        "your-balance-is": "Ваш баланс",
        "callback-requested": "Спасибо. Мы вам перезвоним.",
        "goodbye": "До свидания.",
        "conference-locked": "Извините, конференция закрыта.",
        "conference-full": "Извините, в конференции нет мест.",
        "vm-enter-pin": "Введите пин-код почтового ящика.",
        "vm-new-messages": "Новых сообщений:",
        "vm-saved-messages": "Сохранённых сообщений:",
        "vm-menu": "Новые сообщения, нажмите 1. Сохранённые, 2. "
        "Записать приветствие, 3. Выход, звёздочка.",
        "vm-message": "Сообщение",
        "vm-message-menu": "Прослушать ещё раз, нажмите 5. Удалить, 7. "
        "Следующее сообщение, 9. Главное меню, звёздочка.",
        "vm-no-messages": "Здесь нет сообщений.",
        "vm-no-more": "Больше сообщений нет.",
        "vm-deleted": "Сообщение удалено.",
        "vm-record-greeting": "После сигнала произнесите приветствие и нажмите решётку.",
        "vm-greeting-saved": "Приветствие сохранено.",
        "transfer-sales": "Соединяю с отделом продаж.",
        "transfer-support": "Соединяю со службой поддержки.",
        "reminder-intro": "Здравствуйте. Это напоминание о платеже от демонстрационного "
        "контакт-центра. Платёж",
        "reminder-due": "нужно внести до",
        "reminder-menu": "Чтобы подтвердить, нажмите 1. Чтобы прослушать ещё раз, нажмите 2. "
        "Оператор, 0.",
        "reminder-thanks": "Спасибо. До свидания.",
        "reminder-voicemail": "Это напоминание о платеже от демонстрационного контакт-центра. "
        "Пожалуйста, перезвоните нам. До свидания.",
        "dialer-abandon": "Извините, все операторы заняты. Мы перезвоним вам позже. До свидания.",
        "rouble": "рубль",
        "roubles-i": "рубля",
        "roubles": "рублей",
        "kopeck": "копейка",
        "kopecks-i": "копейки",
        "kopecks": "копеек",
        "digits/1f": "одна",
        "digits/1n": "одно",
        "digits/2f": "две",
        "digits/thousand": "тысяча",
        "digits/thousands-i": "тысячи",
        "digits/thousands": "тысяч",
        "digits/minus": "минус",
    },
}
EN_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
RU_NUMBERS = (
    "ноль один два три четыре пять шесть семь восемь девять десять одиннадцать "
    "двенадцать тринадцать четырнадцать пятнадцать шестнадцать семнадцать "
    "восемнадцать девятнадцать"
).split()
RU_TENS = "двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто".split()
RU_HUNDREDS = "сто двести триста четыреста пятьсот шестьсот семьсот восемьсот девятьсот".split()

EN_ORDINALS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
RU_ORDINALS = (  # genitive: "восьмого марта", "двадцать четвёртого года"
    "первого второго третьего четвёртого пятого шестого седьмого восьмого девятого "
    "десятого одиннадцатого двенадцатого тринадцатого четырнадцатого пятнадцатого "
    "шестнадцатого семнадцатого восемнадцатого девятнадцатого"
).split()
RU_TENS_ORDINALS = (
    "двадцатого тридцатого сорокового пятидесятого шестидесятого семидесятого "
    "восьмидесятого девяностого"
).split()
for n, word in enumerate(EN_ORDINALS, start=1):
    PHRASES["en"][f"ordinals/{n}"] = word
PHRASES["en"]["ordinals/20"] = "twentieth"
PHRASES["en"]["ordinals/30"] = "thirtieth"
for n, word in enumerate(RU_ORDINALS, start=1):
    PHRASES["ru"][f"ordinals/{n}"] = word
for n, word in zip(range(20, 100, 10), RU_TENS_ORDINALS, strict=True):
    PHRASES["ru"][f"ordinals/{n}"] = word
PHRASES["ru"]["year-gen"] = "года"

for n, word in enumerate(EN_NUMBERS):
    PHRASES["en"][f"digits/{n}"] = word
for n, word in zip(range(20, 100, 10), EN_TENS, strict=True):
    PHRASES["en"][f"digits/{n}"] = word
for n, word in enumerate(RU_NUMBERS):
    PHRASES["ru"][f"digits/{n}"] = word
for n, word in zip(range(20, 100, 10), RU_TENS, strict=True):
    PHRASES["ru"][f"digits/{n}"] = word
for n, word in zip(range(100, 1000, 100), RU_HUNDREDS, strict=True):
    PHRASES["ru"][f"digits/{n}"] = word


def render(text: str, voice: str, out: Path) -> None:
    """Speak ``text`` to ``out``: 8 kHz mono 16-bit, leading/trailing silence trimmed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".wav") as raw:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", raw.name, text], check=True)
        subprocess.run(
            ["sox", raw.name, "-r", "8000", "-c", "1", "-b", "16", str(out)]
            + ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%"]
            + ["reverse", "pad", "0", "0.08"],
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="examples/prompts")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args()
    for lang, phrases in PHRASES.items():
        for name, text in phrases.items():
            out = Path(args.root) / lang / f"{name}.wav"
            if out.exists() and not args.force:
                continue
            render(text, VOICES[lang], out)


if __name__ == "__main__":
    main()
