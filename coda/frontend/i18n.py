"""Every string a person reads, in Japanese and English, and how a request picks its language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Request, request

from coda.config import LANGUAGES
from coda.frontend.services import services

LANG_COOKIE = "coda_lang"

CATALOGUE: dict[str, dict[str, str]] = {
    "title": {"ja": "coda — 日本語チャット", "en": "coda — Japanese chat"},
    "tagline": {
        "ja": "自前のサーバーで動く日本語モデルと話せます。",
        "en": "Talk with a Japanese language model running on our own server.",
    },
    "welcome": {
        "ja": "何でも聞いてください。会話はこのブラウザーにだけ保存されます。",
        "en": "Ask anything. The conversation is kept in this browser only.",
    },
    "message_label": {"ja": "メッセージ", "en": "Message"},
    "placeholder": {"ja": "メッセージを入力…", "en": "Type a message…"},
    "hint": {
        "ja": "Enter で送信、Shift+Enter で改行、Esc で停止",
        "en": "Enter sends, Shift+Enter adds a line, Esc stops",
    },
    "send": {"ja": "送信", "en": "Send"},
    "stop": {"ja": "停止", "en": "Stop"},
    "new_chat": {"ja": "新しいチャット", "en": "New chat"},
    "copy": {"ja": "コピー", "en": "Copy"},
    "copied": {"ja": "コピーしました", "en": "Copied"},
    "language": {"ja": "言語", "en": "Language"},
    "you": {"ja": "あなた", "en": "You"},
    "assistant": {"ja": "アシスタント", "en": "Assistant"},
    "model_footer": {"ja": "モデル: {model}", "en": "Model: {model}"},
    "model_label": {"ja": "モデル", "en": "Model"},
    "meta": {
        "ja": (
            "{model} · 入力 {prompt} トークン · 出力 {completion} トークン"
            " · {tps} トークン/秒{source}"
        ),
        "en": "{model} · {prompt} tokens in · {completion} tokens out · {tps} tokens/s{source}",
    },
    # Whose clock the speed comes from (coda.llm.SpeedSource).
    "speed.server": {"ja": "（サーバー計測）", "en": " (server's figure)"},
    "speed.measured": {"ja": "（coda 計測）", "en": " (measured by coda)"},
    "meta_cut": {
        "ja": "（長さの上限で打ち切り）",
        "en": "(cut at the length limit)",
    },
    "loading": {
        "ja": "モデルを読み込み中か、ほかの回答を処理中です。少々お待ちください…",
        "en": "The model is loading or busy with other answers. Please wait…",
    },
    "empty_answer": {
        "ja": "モデルが空の回答を返しました。質問を言い換えてもう一度お試しください。",
        "en": "The model gave an empty answer. Please rephrase and try again.",
    },
    "stopped": {"ja": "停止しました。", "en": "Stopped."},
    "connection_lost": {
        "ja": "接続が切れ、回答が途中で終わりました。もう一度送信してください。",
        "en": "The connection dropped and the answer is incomplete. Please send it again.",
    },
    "error.unavailable": {
        "ja": "モデルのサーバーに接続できません。しばらくしてからもう一度お試しください。",
        "en": "The model server cannot be reached. Please try again in a moment.",
    },
    "error.busy": {
        "ja": "モデルが混み合っています。少し待ってからもう一度送信してください。",
        "en": "The model is busy. Please wait a moment and send again.",
    },
    "error.model_not_found": {
        "ja": "モデル「{model}」がサーバーにありません。管理者がモデルを読み込む必要があります。",
        "en": "The model “{model}” is not on the server. An operator needs to load it.",
    },
    "error.timeout": {
        "ja": (
            "回答に時間がかかりすぎたため、ここで打ち切りました。"
            "短い回答を求めるか、もう一度送信してください。"
        ),
        "en": (
            "The answer took too long and was cut off here. "
            "Ask for a shorter answer, or send it again."
        ),
    },
    "error.timeout.silent": {
        "ja": (
            "モデルのサーバーが時間内に応答しませんでした。起動中か混み合っています。"
            "少し待ってからもう一度送信してください。"
        ),
        "en": (
            "The model server did not answer in time: it may be starting up or busy. "
            "Please wait a moment and send again."
        ),
    },
    "error.interrupted": {
        "ja": "回答の途中で接続が切れました。もう一度送信してください。",
        "en": "The answer was cut off midway. Please send it again.",
    },
    "error.restarting": {
        "ja": "サーバーが再起動するため、回答を途中で終えました。もう一度送信してください。",
        "en": "The server is restarting, so the answer stopped here. Please send it again.",
    },
    "error.llm_error": {
        "ja": "回答を作れませんでした。もう一度お試しください。",
        "en": "No answer could be made. Please try again.",
    },
    "error.invalid_request.empty": {
        "ja": "メッセージが空です。何か入力してから送信してください。",
        "en": "The message is empty. Type something, then send.",
    },
    "error.invalid_request.message_too_long": {
        "ja": "メッセージが長すぎます（{length} 文字）。{limit} 文字以内にしてください。",
        "en": "The message is too long ({length} characters). Keep it within {limit}.",
    },
    "error.invalid_request.unknown_model": {
        "ja": "モデル「{model}」は選べません。ページを再読み込みして、一覧から選んでください。",
        "en": "The model “{model}” cannot be chosen here. Reload the page and pick one listed.",
    },
    "error.invalid_request.bad_history": {
        "ja": "会話の履歴を読み取れませんでした。「新しいチャット」で始め直してください。",
        "en": "The conversation history could not be read. Start over with “New chat”.",
    },
    "error.rejected": {
        "ja": "モデルのサーバーがこの依頼を受け付けませんでした。内容を変えてお試しください。",
        "en": "The model server refused this request. Please rephrase and try again.",
    },
    "error.body_too_large": {
        "ja": (
            "送信内容が大きすぎます（上限 {limit_kb} KB）。"
            "メッセージを短くしてから送信してください。"
        ),
        "en": (
            "The message is too large to send (limit {limit_kb} KB). Please shorten it, then send."
        ),
    },
    "error.csrf": {
        "ja": (
            "ページの有効期限が切れました。再読み込みしてから送信してください（会話は残ります）。"
        ),
        "en": "This page has expired. Reload it, then send again (the conversation is kept).",
    },
    "error.internal": {
        "ja": "予期しないエラーが起きました。もう一度お試しください。",
        "en": "Something unexpected went wrong. Please try again.",
    },
    "error.restore": {
        "ja": (
            "保存されている会話をこのページに表示できませんでした。"
            "会話はこのブラウザーに残っています。"
        ),
        "en": "The saved conversation could not be shown here. It is still kept in this browser.",
    },
    "error.not_found": {
        "ja": "このページはありません。",
        "en": "There is no such page.",
    },
    "error.request": {
        "ja": "この要求は処理できませんでした（HTTP {code}）。ページを再読み込みしてください。",
        "en": "This request could not be handled (HTTP {code}). Please reload the page.",
    },
    "back_to_chat": {"ja": "チャットに戻る", "en": "Back to the chat"},
    # --- Conversations, presets and settings, asking again, export (issue 11) ---
    "conversations": {"ja": "会話", "en": "Conversations"},
    "show_conversations": {"ja": "会話一覧", "en": "Conversations"},
    "search": {"ja": "会話を検索", "en": "Search conversations"},
    "search_placeholder": {"ja": "タイトルや本文で検索…", "en": "Search titles and text…"},
    "no_conversations": {
        "ja": "保存された会話はまだありません。",
        "en": "No saved conversations yet.",
    },
    "no_matches": {"ja": "一致する会話はありません。", "en": "No conversation matches."},
    "untitled": {"ja": "新しいチャット", "en": "New chat"},
    "open_conversation": {"ja": "開く", "en": "Open"},
    "rename": {"ja": "名前を変更", "en": "Rename"},
    "rename_label": {"ja": "新しい名前", "en": "New name"},
    "save": {"ja": "保存", "en": "Save"},
    "cancel": {"ja": "キャンセル", "en": "Cancel"},
    "delete": {"ja": "削除", "en": "Delete"},
    "deleted": {"ja": "「{title}」を削除しました。", "en": "Deleted “{title}”."},
    "undo": {"ja": "元に戻す", "en": "Undo"},
    "export_markdown": {"ja": "Markdown で書き出す", "en": "Export Markdown"},
    "export_json": {"ja": "JSON で書き出す", "en": "Export JSON"},
    "import": {"ja": "JSON を読み込む", "en": "Import JSON"},
    "import.done": {"ja": "「{title}」を読み込みました。", "en": "Imported “{title}”."},
    "error.invalid_request.not_a_conversation": {
        "ja": (
            "このファイルは coda の会話ではないため、読み込めません。"
            "coda で「JSON で書き出す」したファイルを選んでください。"
        ),
        "en": (
            "This file is not a coda conversation, so it cannot be imported. "
            "Choose a file made with “Export JSON”."
        ),
    },
    "settings": {"ja": "設定", "en": "Settings"},
    "preset": {"ja": "プリセット", "en": "Preset"},
    "temperature": {"ja": "温度", "en": "Temperature"},
    "temperature_hint": {
        "ja": "{low}〜{high}。高いほど自由な回答",
        "en": "{low}–{high}; higher is more creative",
    },
    "max_tokens": {"ja": "回答の長さ（トークン）", "en": "Answer length (tokens)"},
    "max_tokens_hint": {"ja": "1〜{high}", "en": "1–{high}"},
    "regenerate": {"ja": "回答を作り直す", "en": "Regenerate"},
    "edit_last": {"ja": "質問を編集", "en": "Edit question"},
    "continue": {"ja": "続きを書かせる", "en": "Continue"},
    "editing": {
        "ja": "最後の質問を編集しています。送信すると前の回答と置き換わります（Esc で取り消し）。",
        "en": "Editing the last question: sending replaces the previous answer (Esc cancels).",
    },
    "interrupted": {
        "ja": "ページが閉じられたため、回答は途中で終わっています。",
        "en": "The page was closed, so this answer is incomplete.",
    },
    "left_out": {
        "ja": "会話が長くなったため、最初の {count} 件のメッセージはモデルに送られていません。",
        "en": (
            "This conversation is long: its first {count} messages are no longer sent to the model."
        ),
    },
    # Sent to the model (not shown) when the user asks it to go on with an answer cut short.
    "continue.instruction": {
        "ja": "前の回答が途中で切れました。繰り返さずに、切れたところから続きを書いてください。",
        "en": (
            "Your previous answer was cut off. Continue exactly "
            "where it stopped, without repeating it."
        ),
    },
    "storage.full": {
        "ja": (
            "ブラウザーの保存領域がいっぱいのため、会話を保存できませんでした。"
            "古い会話を削除するか書き出してから、もう一度お試しください。"
        ),
        "en": (
            "This browser's storage is full, so the conversation could not be saved. "
            "Delete or export old conversations, then try again."
        ),
    },
    "storage.unavailable": {
        "ja": (
            "このブラウザーでは会話を保存できません（保存領域が使えません）。"
            "ページを閉じると会話は消えます。"
        ),
        "en": (
            "Conversations cannot be saved in this browser (storage is unavailable). "
            "This one ends when the page closes."
        ),
    },
    "error.invalid_request.unknown_preset": {
        "ja": (
            "プリセット「{preset}」はありません。ページを再読み込みして、一覧から選んでください。"
        ),
        "en": "There is no preset “{preset}”. Reload the page and pick one listed.",
    },
    "error.invalid_request.bad_choice": {
        "ja": (
            "「{field}」に「{value}」は選べません。ページを再読み込みして、一覧から選んでください。"
        ),
        "en": "“{value}” cannot be chosen for “{field}”. Reload the page and pick one listed.",
    },
    "error.invalid_request.field_too_long": {
        "ja": "「{field}」が長すぎます（{length} 文字）。{limit} 文字以内にしてください。",
        "en": "“{field}” is too long ({length} characters). Keep it within {limit}.",
    },
    "error.invalid_request.bad_temperature": {
        "ja": "温度「{value}」は使えません。{low} から {high} までの数にしてください。",
        "en": "The temperature “{value}” cannot be used. Choose a number from {low} to {high}.",
    },
    "error.invalid_request.bad_max_tokens": {
        "ja": (
            "回答の長さ「{value}」は使えません。"
            "{low} から {high} トークンまでの整数にしてください。"
        ),
        "en": (
            "The answer length “{value}” cannot be used. Choose "
            "a whole number from {low} to {high} tokens."
        ),
    },
    "error.invalid_request.bad_mode": {
        "ja": "この操作はできません。ページを再読み込みしてください。",
        "en": "This action is not possible. Please reload the page.",
    },
    "error.invalid_request.nothing_to_redo": {
        "ja": "やり直す質問や続ける回答がありません。新しい質問を送信してください。",
        "en": "There is no question to ask again or answer to continue. Send a new question.",
    },
}

# Who may chat and how much (coda.frontend.visitors, coda.frontend.admission).
CATALOGUE.update(
    {
        "signed_in_as": {"ja": "{email} でサインイン中", "en": "Signed in as {email}"},
        "sign_out": {"ja": "サインアウト", "en": "Sign out"},
        "signin.required": {
            "ja": (
                "サインインを確認できませんでした。"
                "ページを再読み込みして、サインインし直してください。"
            ),
            "en": "Your sign-in could not be verified. Reload the page to sign in again.",
        },
        "signin.unavailable": {
            "ja": "いまはサインインを確認できません。少し待ってから再読み込みしてください。",
            "en": "Sign-in cannot be checked right now. Please wait a moment, then reload.",
        },
        "limit.answers_per_minute": {
            "ja": "1 分間に頼める回答は {limit} 件までです。{wait}後にもう一度送信してください。",
            "en": "You can ask for {limit} answers a minute. Send again in {wait}.",
        },
        "limit.answers_per_day": {
            "ja": "今日の回答の上限（{limit} 件）に達しました。{wait}後にまた送信できます。",
            "en": "You have reached today's limit of {limit} answers. Send again in {wait}.",
        },
        "limit.tokens_per_day": {
            "ja": "今日のトークンの上限（{limit}）を使い切りました。{wait}後にまた送信できます。",
            "en": "You have used today's {limit} tokens. You can send again in {wait}.",
        },
        "limit.streams_per_user": {
            "ja": (
                "ほかの回答がまだ生成中です（同時に {limit} 件まで）。"
                "それが終わるか停止してから、もう一度送信してください。"
            ),
            "en": (
                "Another answer of yours is still being written (at most {limit} at once). "
                "Send again once it ends, or stop it."
            ),
        },
        "limit.busy": {
            "ja": "サーバーがほかの回答で混み合っています。{wait}後にもう一度送信してください。",
            "en": "The server is busy with other answers. Send again in {wait}.",
        },
        "limit.unavailable": {
            "ja": (
                "いまは利用上限を確認できないため送信できません。{wait}後にもう一度お試しください。"
            ),
            "en": "Usage limits cannot be checked right now. Please try again in {wait}.",
        },
        "wait.seconds": {"ja": "{n} 秒", "en": "{n} s"},
        "wait.minutes": {"ja": "{n} 分", "en": "{n} min"},
        "wait.hours": {"ja": "{n} 時間", "en": "{n} h"},
        "wait.hours_minutes": {"ja": "{h} 時間 {m} 分", "en": "{h} h {m} min"},
    }
)


# What model servers really do (issue 19): counts they did not send, failures said as they are.
CATALOGUE.update(
    {
        "thinking": {
            "ja": "モデルが考えています…（考えた内容は回答の上に表示されます）",
            "en": "The model is thinking… (its reasoning appears above the answer)",
        },
        "reasoning": {"ja": "モデルの考え", "en": "The model's reasoning"},
        "reasoning_exhausted": {
            "ja": (
                "モデルが考えるだけで回答の長さの上限を使い切り、回答を書けませんでした。"
                "設定で「回答の長さ」を増やして「回答を作り直す」を押してください。"
            ),
            "en": (
                "The model spent the whole answer length on its reasoning and wrote no answer. "
                "Raise the answer length in the settings, then press Regenerate."
            ),
        },
        "meta_estimated": {
            "ja": "（サーバーがトークン数を返さないため coda の推定値）",
            "en": "(token counts estimated by coda: the server sent none)",
        },
        "error.model_cannot_load": {
            "ja": (
                "モデル「{model}」をサーバーで起動できませんでした。"
                "ほかのモデルを選ぶか、管理者にサーバーの記録を確認してもらってください。"
            ),
            "en": (
                "The server could not start the model “{model}”. Choose another model, "
                "or ask an operator to check the server's log."
            ),
        },
        "error.model_cannot_load.memory": {
            "ja": (
                "モデル「{model}」はサーバーのメモリーに収まらないため読み込めません"
                "（必要 {needed}、空き {available}）。"
                "小さいモデルを選ぶか、管理者にメモリーを空けてもらってください。"
            ),
            "en": (
                "The model “{model}” cannot be loaded: it needs more memory than the server has "
                "free ({needed} needed, {available} free). Choose a smaller model, or ask an "
                "operator to free memory."
            ),
        },
        "error.prompt_too_long": {
            "ja": (
                "会話がモデルの一度に読める長さ（コンテキスト）を超えたため、"
                "サーバーが受け付けませんでした。「新しいチャット」で始めるか、"
                "メッセージを短くしてください。"
            ),
            "en": (
                "The conversation is longer than the model can read at once (its context "
                "window), so the server refused it. Start a new chat, or shorten the message."
            ),
        },
        "error.server_auth": {
            "ja": (
                "モデルのサーバーが coda の認証を受け付けませんでした（{status}）。"
                "管理者が API キーか権限を確認する必要があります。"
            ),
            "en": (
                "The model server did not accept coda's credentials ({status}). An operator "
                "needs to check the API key or the permissions."
            ),
        },
        "error.ended_early": {
            "ja": (
                "モデルのサーバーが回答を最後まで終えずに打ち切りました"
                "（接続は切れていません）。もう一度送信してください。"
            ),
            "en": (
                "The model server ended the answer before finishing it (the connection did not "
                "drop). Please send it again."
            ),
        },
    }
)


class _Params(dict[str, Any]):
    """A missing parameter prints as nothing rather than failing the whole message."""

    def __missing__(self, key: str) -> str:
        return ""


def translate(key: str, lang: str, **params: Any) -> str:
    """The message in `lang`, with `params` filled in; unknown keys fall back to a generic error."""
    entry = CATALOGUE.get(key) or CATALOGUE["error.llm_error"]
    text = entry.get(lang) or entry["ja"]
    return text.format_map(_Params(params))


def error_message(
    kind: str, params: Mapping[str, Any], lang: str, *, answered: bool = False
) -> str:
    """The message for an error `kind`: an LLM error's (`coda.llm.errors`), or `invalid_request`
    for refused input (`coda.frontend.posted_turn`), specific to its reason.

    `answered`: whether some of the answer had arrived. A timeout before any text is the server's
    silence, not the question's length, and says so.
    """
    labels = params.get("labels")
    if isinstance(labels, Mapping):  # a preset field's label, in every language of the page
        params = {**params, "field": labels.get(lang) or labels.get("ja", "")}
    if kind == "invalid_request":
        key = f"error.invalid_request.{params.get('reason', '')}"
        if key not in CATALOGUE:
            key = "error.invalid_request.bad_history"
    elif kind == "timeout" and not answered:
        key = "error.timeout.silent"
    elif f"error.{kind}.{params.get('reason', '')}" in CATALOGUE:  # a kind said by its reason
        key = f"error.{kind}.{params.get('reason', '')}"
    else:
        key = f"error.{kind}"
    return translate(key, lang, **params)


def pick_language(request: Request, default: str) -> str:
    """The saved choice, else the browser's preferred language among ours, else the default."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(LANGUAGES)
    return best or default


def language() -> str:
    """The current request's language (see `pick_language`)."""
    return pick_language(request, services().settings.default_language)
