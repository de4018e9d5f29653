"""Deterministic, realistic fake data for the AI BotKit demo tables.

Who calls what: ``core.seed.seed_environment`` (``syncdb seed``) and
``demo.project.build_demo`` (``syncdb demo``) call :func:`seed` with an open
asyncpg connection.  It fills every AI BotKit table that exists in the database,
with the columns that exist there (prod in the demo is at 0006, without
``aibotkit_analytics`` nor ``chatbots.analytics_enabled``), loading with COPY in
batches inside one transaction, then moves each serial sequence past the new ids.

The same ``scale`` and ``seed`` give the same rows on every run: each batch draws
from its own ``random.Random`` seeded by (seed, table, batch number).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from syncdb_tui.core.events import JobProgress, emit
from syncdb_tui.core.seed import SeedOptions, SeedResult

if TYPE_CHECKING:
    import asyncpg

__all__ = ["DEMO_TABLES", "SeedOptions", "SeedResult", "plan", "seed"]

DEMO_TABLES = (
    "aibotkit_users",
    "aibotkit_teams",
    "aibotkit_team_members",
    "aibotkit_chatbots",
    "aibotkit_conversations",
    "aibotkit_documents",
    "aibotkit_messages",
    "aibotkit_analytics",
)
"""The tables the demo seeder fills, parents first."""

EPOCH = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)
"""The demo's first day: every timestamp is derived from it, never from the clock."""
YEAR_SECONDS = 365 * 24 * 3600
ACTIVITY_START = EPOCH + timedelta(days=400)
"""Users sign up during the first year and make their bots within 30 days; activity starts after that."""

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Arjun",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Dara",
    "Elena",
    "Emeka",
    "Fatima",
    "Felix",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Isaac",
    "Jamal",
    "Jin",
    "Julia",
    "Kai",
    "Kenji",
    "Lara",
    "Leo",
    "Lina",
    "Luca",
    "Maya",
    "Mei",
    "Mateo",
    "Nadia",
    "Nia",
    "Noah",
    "Omar",
    "Priya",
    "Rafael",
    "Rosa",
    "Sami",
    "Sara",
    "Sofia",
    "Tariq",
    "Tomas",
    "Uma",
    "Victor",
    "Yara",
    "Yusuf",
    "Zoe",
)
LAST_NAMES = (
    "Abara",
    "Berg",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Novak",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Tanaka",
    "Varga",
    "Weber",
    "Wright",
    "Yilmaz",
    "Zhang",
)
EMAIL_DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example.com")
COMPANY_WORDS = (
    "Acme",
    "Apex",
    "Blue",
    "Bright",
    "Cloud",
    "Copper",
    "Delta",
    "Echo",
    "Falcon",
    "Green",
    "Harbor",
    "Indigo",
    "Iron",
    "Lumen",
    "Maple",
    "Nova",
    "North",
    "Orbit",
    "Pine",
    "Pixel",
    "Quartz",
    "River",
    "Solar",
    "Summit",
    "Swift",
    "Terra",
    "Vertex",
    "Willow",
)
COMPANY_SUFFIXES = ("Labs", "Studio", "Systems", "Works", "Health", "Retail", "Logistics", "Analytics", "Co")
PLANS = (("Free", 0.35), ("Starter", 0.30), ("Pro", 0.25), ("Enterprise", 0.10))
STATUSES = (("active", 0.80), ("trialing", 0.10), ("past_due", 0.06), ("canceled", 0.04))
ROLES = ("member", "member", "member", "admin")
BOT_KINDS = (
    "Support Bot",
    "Sales Assistant",
    "Onboarding Guide",
    "FAQ Helper",
    "Booking Agent",
    "IT Helpdesk",
    "HR Assistant",
    "Docs Navigator",
)
COLORS = ("#2563eb", "#16a34a", "#db2777", "#ea580c", "#7c3aed", "#0891b2", "#334155")
FONTS = ("Inter", "Roboto", "Source Sans", "system-ui")
GREETINGS = (
    "Hi! How can I help you today?",
    "Hello, I'm here to answer your questions.",
    "Welcome back! What are you looking for?",
    "Need a hand? Ask me anything about our product.",
    "Hey there 👋 Ask me about pricing, plans or setup.",
)
DOC_TOPICS = (
    "Getting started",
    "Pricing and plans",
    "Refund policy",
    "API reference",
    "Security overview",
    "Troubleshooting login",
    "Shipping times",
    "Integrations",
    "Release notes",
    "Privacy policy",
)
DOC_SOURCES = ("https://docs.example.com/{slug}", "uploads/{slug}.pdf", "https://help.example.com/articles/{slug}")
USER_LINES = (
    "How do I reset my password?",
    "What does the Pro plan include?",
    "Can I export my conversation history?",
    "Is there an API for creating chatbots?",
    "My widget does not show up on the website.",
    "How long does shipping to Canada take?",
    "Can I change the bot's colours?",
    "Do you support single sign-on?",
    "I was charged twice this month.",
    "Where can I find the integration guide?",
    "Does the bot work in Spanish?",
    "How many documents can I upload?",
)
ASSISTANT_LINES = (
    "You can reset it from Settings → Security; a link arrives by email within a minute.",
    "The Pro plan includes 5 chatbots, 10,000 messages a month and priority support.",
    "Yes: open the conversation list and choose Export → CSV.",
    "There is a REST API; see the API reference in the docs for the /chatbots endpoint.",
    "Please check that the embed script is placed before the closing </body> tag.",
    "Standard shipping to Canada takes 5 to 7 business days.",
    "Open the chatbot's Style tab to pick colours, fonts and the launcher icon.",
    "Single sign-on with SAML is available on the Enterprise plan.",
    "I'm sorry about that. I've opened a billing ticket; you'll hear from us within a day.",
    "The integration guide is under Docs → Integrations.",
    "Yes, the bot answers in the language the visitor writes in.",
    "Starter allows 50 documents, Pro 500 and Enterprise unlimited.",
)
STYLE_POOL = tuple(
    json.dumps({"primary_color": color, "font": font, "position": position, "bubble_radius": radius})
    for color, font, position, radius in itertools.product(COLORS, FONTS, ("bottom-right", "bottom-left"), (8, 12, 16))
)
GREETING_POOL = tuple(json.dumps(list(combo)) for k in (1, 2, 3) for combo in itertools.permutations(GREETINGS, k))
STEPS = tuple(timedelta(seconds=second) for second in range(256))
"""Precomputed offsets between the messages of one conversation."""
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class Plan:
    """How many rows each demo table gets at a scale."""

    users: int
    teams: int
    chatbots_per_user: int
    conversations_per_chatbot: int
    documents_per_chatbot: int
    messages_per_conversation: int
    analytics_days: int

    @property
    def chatbots(self) -> int:
        return self.users * self.chatbots_per_user

    @property
    def conversations(self) -> int:
        return self.chatbots * self.conversations_per_chatbot

    @property
    def documents(self) -> int:
        return self.chatbots * self.documents_per_chatbot

    @property
    def messages(self) -> int:
        return self.conversations * self.messages_per_conversation

    @property
    def analytics(self) -> int:
        return self.chatbots * self.analytics_days

    def rows(self, table: str) -> int:
        counts = {
            "aibotkit_users": self.users,
            "aibotkit_teams": self.teams,
            "aibotkit_team_members": self.users,
            "aibotkit_chatbots": self.chatbots,
            "aibotkit_conversations": self.conversations,
            "aibotkit_documents": self.documents,
            "aibotkit_messages": self.messages,
            "aibotkit_analytics": self.analytics,
        }
        return counts[table]


def plan(scale: float) -> Plan:
    """The row counts at ``scale``: 1.0 is about 4,700 rows; 3,400 gives over 10 million messages."""
    users = max(2, round(50 * scale))
    return Plan(
        users=users,
        teams=max(1, users // 5),
        chatbots_per_user=2,
        conversations_per_chatbot=5,
        documents_per_chatbot=3,
        messages_per_conversation=6,
        analytics_days=7,
    )


# ---------------------------------------------------------------- generators
# Each generator yields one batch (a list of tuples in the table's head column order)
# for the id range [start, stop); ``base`` holds the first id of each parent table.

Columns = tuple[str, ...]
Generator = Callable[[random.Random, int, int, Plan, dict[str, int]], list[tuple[Any, ...]]]

COLUMNS: dict[str, Columns] = {
    "aibotkit_users": ("id", "email", "name", "password_hash", "created_at"),
    "aibotkit_teams": (
        "id",
        "name",
        "stripe_customer_id",
        "stripe_subscription_id",
        "plan_name",
        "subscription_status",
    ),
    "aibotkit_team_members": ("user_id", "team_id", "role"),
    "aibotkit_chatbots": ("id", "user_id", "name", "style", "welcome_messages", "created_at", "analytics_enabled"),
    "aibotkit_conversations": ("id", "chatbot_id", "session_id", "guest_ip"),
    "aibotkit_documents": ("id", "chatbot_id", "title", "source", "pinecone_id"),
    "aibotkit_messages": ("id", "conversation_id", "role", "content", "created_at"),
    "aibotkit_analytics": ("id", "chatbot_id", "date", "message_count", "unique_users", "created_at"),
}
IDENTITY_TABLES = tuple(table for table, cols in COLUMNS.items() if cols[0] == "id")


def _token(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choices(alphabet, k=length))


def _weighted(rng: random.Random, options: Sequence[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in options], weights=[weight for _, weight in options])[0]


def _user_created(index: int) -> datetime:
    """When user number ``index`` signed up: spread over the demo's first year, stable per index."""
    return EPOCH + timedelta(seconds=(index * 7919 * 3607) % YEAR_SECONDS)


def _users(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> list[tuple[Any, ...]]:
    rows = []
    for user_id in range(start, stop):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}{user_id}@{rng.choice(EMAIL_DOMAINS)}"
        password_hash = "$2b$12$" + _token(rng, ALNUM, 53)
        rows.append((user_id, email, f"{first} {last}", password_hash, _user_created(user_id)))
    return rows


def _teams(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for team_id in range(start, stop):
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
        plan_name = _weighted(rng, PLANS)
        if plan_name == "Free":
            rows.append((team_id, name, None, None, plan_name, None))
            continue
        customer = "cus_" + _token(rng, ALNUM, 14)
        subscription = "sub_" + _token(rng, ALNUM, 24)
        rows.append((team_id, name, customer, subscription, plan_name, _weighted(rng, STATUSES)))
    return rows


def _team_members(
    rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]
) -> list[tuple[Any, ...]]:
    rows = []
    first_user, first_team = base["aibotkit_users"], base["aibotkit_teams"]
    for offset in range(start, stop):
        team = offset % plan_.teams
        role = "owner" if offset < plan_.teams else rng.choice(ROLES)
        rows.append((first_user + offset, first_team + team, role))
    return rows


def _chatbots(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> list[tuple[Any, ...]]:
    rows = []
    first_user, first_bot = base["aibotkit_users"], base["aibotkit_chatbots"]
    for bot_id in range(start, stop):
        owner = (bot_id - first_bot) // plan_.chatbots_per_user
        style = rng.choice(STYLE_POOL)
        greetings = rng.choice(GREETING_POOL)
        created = _user_created(first_user + owner) + timedelta(hours=rng.randint(1, 24 * 30))
        enabled = rng.random() < 0.4
        rows.append((bot_id, first_user + owner, rng.choice(BOT_KINDS), style, greetings, created, enabled))
    return rows


def _conversations(
    rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]
) -> list[tuple[Any, ...]]:
    rows = []
    first_bot, first_conv = base["aibotkit_chatbots"], base["aibotkit_conversations"]
    for conv_id in range(start, stop):
        bot = first_bot + (conv_id - first_conv) // plan_.conversations_per_chatbot
        bits = rng.getrandbits(32)
        ip = f"{11 + (bits >> 24) % 213}.{(bits >> 16) & 255}.{(bits >> 8) & 255}.{1 + (bits & 255) % 254}"
        rows.append((conv_id, bot, f"{rng.getrandbits(128):032x}", ip if bits % 10 else None))
    return rows


def _documents(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> list[tuple[Any, ...]]:
    rows = []
    first_bot, first_doc = base["aibotkit_chatbots"], base["aibotkit_documents"]
    for doc_id in range(start, stop):
        bot = first_bot + (doc_id - first_doc) // plan_.documents_per_chatbot
        title = rng.choice(DOC_TOPICS)
        slug = title.lower().replace(" ", "-")
        source = rng.choice(DOC_SOURCES).format(slug=slug)
        rows.append((doc_id, bot, title, source, f"vec-{rng.getrandbits(96):024x}"))
    return rows


def _messages(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> list[tuple[Any, ...]]:
    first_conv, first_msg = base["aibotkit_conversations"], base["aibotkit_messages"]
    per = plan_.messages_per_conversation
    pairs = len(USER_LINES)
    rows = []
    randrange, rand = rng.randrange, rng.random
    conv_start = ACTIVITY_START
    topic = 0
    for msg_id in range(start, stop):
        offset = msg_id - first_msg
        turn = offset % per
        if turn == 0 or msg_id == start:
            conv_index = offset // per
            conv_start = ACTIVITY_START + timedelta(seconds=(conv_index * 104_729) % YEAR_SECONDS + randrange(3600))
            topic = randrange(pairs)
        if turn % 2 == 0:
            role, content = "user", USER_LINES[(topic + turn // 2) % pairs]
        else:
            role, content = "assistant", ASSISTANT_LINES[(topic + turn // 2) % pairs]
        created = conv_start + STEPS[turn * 20 + int(rand() * 15)]
        rows.append((msg_id, first_conv + offset // per, role, content, created))
    return rows


def _analytics(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> list[tuple[Any, ...]]:
    first_bot, first_row = base["aibotkit_chatbots"], base["aibotkit_analytics"]
    days = plan_.analytics_days
    dates = [ACTIVITY_START + timedelta(days=day) for day in range(days)]
    created = [date + timedelta(days=1, minutes=5) for date in dates]
    rand = rng.random
    rows = []
    for row_id in range(start, stop):
        offset = row_id - first_row
        day = offset % days
        messages = int(rand() * 401)
        users = min(messages, int(rand() * 81))
        rows.append((row_id, first_bot + offset // days, dates[day], messages, users, created[day]))
    return rows


GENERATORS: dict[str, Generator] = {
    "aibotkit_users": _users,
    "aibotkit_teams": _teams,
    "aibotkit_team_members": _team_members,
    "aibotkit_chatbots": _chatbots,
    "aibotkit_conversations": _conversations,
    "aibotkit_documents": _documents,
    "aibotkit_messages": _messages,
    "aibotkit_analytics": _analytics,
}


# ---------------------------------------------------------------- binary COPY
# The big tables skip Python tuples (and asyncpg's per-value encoding): each batch is
# written straight into PostgreSQL's binary COPY format, drawing from the batch's
# random.Random exactly as the tuple generators above do, so both give the same rows.
# Columns are ordered fixed-width first so one struct packs most of a row.

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
ACTIVITY_US = (ACTIVITY_START - PG_EPOCH) // timedelta(microseconds=1)


def _text_field(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">i", len(data)) + data


def _us(value: datetime) -> int:
    """Microseconds since PostgreSQL's epoch: a timestamptz in binary COPY."""
    return (value - PG_EPOCH) // timedelta(microseconds=1)


MESSAGE_TAILS = (
    tuple(_text_field("user") + _text_field(line) for line in USER_LINES),
    tuple(_text_field("assistant") + _text_field(line) for line in ASSISTANT_LINES),
)
DOCUMENT_TAILS = tuple(
    tuple(
        _text_field(title) + _text_field(source.format(slug=title.lower().replace(" ", "-"))) for source in DOC_SOURCES
    )
    for title in DOC_TOPICS
)


def _messages_copy(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> bytes:
    """Columns (id, conversation_id, created_at, role, content) of :func:`_messages`."""
    first_conv, first_msg = base["aibotkit_conversations"], base["aibotkit_messages"]
    per = plan_.messages_per_conversation
    pairs = len(USER_LINES)
    randrange, rand = rng.randrange, rng.random
    head = struct.Struct(">hiqiiiq").pack
    tails = MESSAGE_TAILS
    out: list[bytes] = []
    append = out.append
    conv_start = ACTIVITY_US
    topic = 0
    for msg_id in range(start, stop):
        offset = msg_id - first_msg
        turn = offset % per
        if turn == 0 or msg_id == start:
            conv_index = offset // per
            conv_start = ACTIVITY_US + ((conv_index * 104_729) % YEAR_SECONDS + randrange(3600)) * 1_000_000
            topic = randrange(pairs)
        created = conv_start + (turn * 20 + int(rand() * 15)) * 1_000_000
        append(
            head(5, 8, msg_id, 4, first_conv + offset // per, 8, created) + tails[turn % 2][(topic + turn // 2) % pairs]
        )
    return b"".join(out)


def _analytics_copy(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> bytes:
    """Columns (id, chatbot_id, date, message_count, unique_users, created_at) of :func:`_analytics`."""
    first_bot, first_row = base["aibotkit_chatbots"], base["aibotkit_analytics"]
    days = plan_.analytics_days
    dates = [_us(ACTIVITY_START + timedelta(days=day)) for day in range(days)]
    day_us = 86_400_000_000
    created = [date + day_us + 300_000_000 for date in dates]
    rand = rng.random
    pack = struct.Struct(">hiqiiiqiiiiiq").pack
    out: list[bytes] = []
    append = out.append
    for row_id in range(start, stop):
        offset = row_id - first_row
        day = offset % days
        messages = int(rand() * 401)
        users = min(messages, int(rand() * 81))
        append(pack(6, 8, row_id, 4, first_bot + offset // days, 8, dates[day], 4, messages, 4, users, 8, created[day]))
    return b"".join(out)


def _conversations_copy(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> bytes:
    """Columns (id, chatbot_id, session_id, guest_ip) of :func:`_conversations`."""
    first_bot, first_conv = base["aibotkit_chatbots"], base["aibotkit_conversations"]
    per = plan_.conversations_per_chatbot
    getrandbits = rng.getrandbits
    # inet in binary: family (2 = AF_INET), bits, is_cidr, address length, address
    with_ip = struct.Struct(">hiiiii32siBBBBBBBB").pack
    without_ip = struct.Struct(">hiiiii32si").pack
    out: list[bytes] = []
    append = out.append
    for conv_id in range(start, stop):
        bot = first_bot + (conv_id - first_conv) // per
        bits = getrandbits(32)
        session = b"%032x" % getrandbits(128)
        if bits % 10:
            append(
                with_ip(
                    4,
                    4,
                    conv_id,
                    4,
                    bot,
                    32,
                    session,
                    8,
                    2,
                    32,
                    0,
                    4,
                    11 + (bits >> 24) % 213,
                    (bits >> 16) & 255,
                    (bits >> 8) & 255,
                    1 + (bits & 255) % 254,
                )
            )
        else:
            append(without_ip(4, 4, conv_id, 4, bot, 32, session, -1))
    return b"".join(out)


def _documents_copy(rng: random.Random, start: int, stop: int, plan_: Plan, base: dict[str, int]) -> bytes:
    """Columns (id, chatbot_id, pinecone_id, title, source) of :func:`_documents`."""
    first_bot, first_doc = base["aibotkit_chatbots"], base["aibotkit_documents"]
    per = plan_.documents_per_chatbot
    choice, getrandbits = rng.choice, rng.getrandbits
    topics = range(len(DOC_TOPICS))
    sources = range(len(DOC_SOURCES))
    head = struct.Struct(">hiiiii28s").pack
    out: list[bytes] = []
    append = out.append
    for doc_id in range(start, stop):
        bot = first_bot + (doc_id - first_doc) // per
        topic = choice(topics)
        source = choice(sources)
        append(head(5, 4, doc_id, 4, bot, 28, b"vec-%024x" % getrandbits(96)) + DOCUMENT_TAILS[topic][source])
    return b"".join(out)


BinaryGenerator = Callable[[random.Random, int, int, Plan, dict[str, int]], bytes]
BINARY: dict[str, tuple[dict[str, str], BinaryGenerator]] = {
    "aibotkit_messages": (
        {
            "id": "bigint",
            "conversation_id": "integer",
            "created_at": "timestamp with time zone",
            "role": "character varying",
            "content": "text",
        },
        _messages_copy,
    ),
    "aibotkit_analytics": (
        {
            "id": "bigint",
            "chatbot_id": "integer",
            "date": "timestamp with time zone",
            "message_count": "integer",
            "unique_users": "integer",
            "created_at": "timestamp with time zone",
        },
        _analytics_copy,
    ),
    "aibotkit_conversations": (
        {"id": "integer", "chatbot_id": "integer", "session_id": "character varying", "guest_ip": "inet"},
        _conversations_copy,
    ),
    "aibotkit_documents": (
        {
            "id": "integer",
            "chatbot_id": "integer",
            "pinecone_id": "character varying",
            "title": "character varying",
            "source": "text",
        },
        _documents_copy,
    ),
}
"""Tables written in binary COPY: the column types each encoder writes (in COPY order) and the encoder.
Used only when the database's columns are exactly these types; otherwise the tuple path runs."""


# ---------------------------------------------------------------- loading


def _batch_rng(seed_value: int, table: str, batch: int) -> random.Random:
    digest = hashlib.sha256(f"{seed_value}:{table}:{batch}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _batches(table: str, total: int, batch_size: int, first_id: int) -> Iterator[tuple[int, int, int]]:
    """(batch number, start, stop) over the ids (or member offsets) of ``table``."""
    origin = 0 if table == "aibotkit_team_members" else first_id
    for number, offset in enumerate(range(0, total, batch_size)):
        yield number, origin + offset, origin + min(total, offset + batch_size)


async def _existing_columns(conn: asyncpg.Connection) -> dict[str, dict[str, str]]:
    """The demo tables the database has: their columns, in order, with their types."""
    rows = await conn.fetch(
        """
        SELECT c.table_name, c.column_name, c.data_type
        FROM information_schema.columns c
        WHERE c.table_schema = current_schema() AND c.table_name = ANY($1::text[])
        ORDER BY c.table_name, c.ordinal_position
        """,
        list(DEMO_TABLES),
    )
    found: dict[str, dict[str, str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    return found


INDEX_REBUILD_ROWS = 20_000
"""An empty table about to get at least this many rows has its plain indexes built after the load."""


async def _set_aside_indexes(conn: asyncpg.Connection, tables: Sequence[str]) -> list[str]:
    """Drop the plain secondary indexes of ``tables`` and return their definitions.

    Building an index once over the loaded rows (one sort) is much cheaper than
    inserting every row into it.  Only ordinary, valid, non-unique indexes that no
    constraint, partition tree, extension or comment depends on are dropped; the
    caller creates them again in the same transaction, so nobody sees them missing.
    """
    if not tables:
        return []
    rows = await conn.fetch(
        """
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index i
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY($1::text[])
          AND t.relkind = 'r' AND ic.reltablespace = 0
          AND NOT i.indisprimary AND NOT i.indisunique AND NOT i.indisexclusion
          AND NOT i.indisclustered AND NOT i.indisreplident AND i.indisvalid AND i.indisready
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
          AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
          AND NOT EXISTS (SELECT 1 FROM pg_description d WHERE d.objoid = i.indexrelid)
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = i.indexrelid AND d.deptype = 'e')
        ORDER BY i.indexrelid
        """,
        list(tables),
    )
    for row in rows:
        await conn.execute(f"DROP INDEX {row['name']}")
    return [row["definition"] for row in rows]


async def _truncate_empty(conn: asyncpg.Connection, tables: Sequence[str]) -> set[str]:
    """TRUNCATE the empty ``tables`` in this transaction and return them.

    Their rows then go into files created by this transaction: COPY may FREEZE them (no
    hint-bit writes and no vacuum freeze later) and, on a server at ``wal_level = minimal``
    (docs/dev-loop.md), the load writes no WAL at all.  Nothing is lost: they are empty.
    A table referenced by a foreign key of a table left out is left out too (TRUNCATE
    would refuse it).
    """
    if not tables:
        return set()
    oids = {table: int(await conn.fetchval("SELECT $1::regclass::oid", f'"{table}"')) for table in tables}
    references = await conn.fetch(
        "SELECT conrelid::int AS child, confrelid::int AS parent FROM pg_constraint WHERE contype = 'f'"
    )
    chosen = set(oids.values())
    changed = True
    while changed:
        changed = False
        for row in references:
            if row["parent"] in chosen and row["child"] not in chosen:
                chosen.discard(row["parent"])
                changed = True
    truncated = {table for table, oid in oids.items() if oid in chosen}
    if truncated:
        await conn.execute("TRUNCATE " + ", ".join(f'"{table}"' for table in tables if table in truncated))
    return truncated


async def _rebuild_indexes(conn: asyncpg.Connection, definitions: Sequence[str]) -> None:
    if not definitions:
        return
    # a bigger sort memory for this transaction only: each index is one in-memory sort
    await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for definition in definitions:
        await conn.execute(definition)


async def _empty(conn: asyncpg.Connection, table: str) -> bool:
    return not await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")')


async def _copy_binary(
    conn: asyncpg.Connection,
    table: str,
    columns: list[str],
    make: Callable[[tuple[int, int, int]], bytes],
    batches: list[tuple[int, int, int]],
    written: Callable[[int], None],
    *,
    freeze: bool = False,
) -> None:
    """One binary COPY of every batch of ``table``, generating the next batch in a thread meanwhile
    (``freeze``: the table was truncated in this transaction, its rows are written frozen)."""

    def prefetch(index: int) -> asyncio.Future[bytes] | None:
        if index >= len(batches):
            return None
        return asyncio.ensure_future(asyncio.to_thread(make, batches[index]))

    async def source() -> AsyncIterator[bytes]:
        yield COPY_HEADER
        upcoming = prefetch(0)
        try:
            for index in range(len(batches)):
                assert upcoming is not None
                data = await upcoming
                upcoming = prefetch(index + 1)
                yield data
                _, start, stop = batches[index]
                written(stop - start)
        finally:
            if upcoming is not None:
                upcoming.cancel()
        yield COPY_TRAILER

    await conn.copy_to_table(table, source=source(), columns=columns, format="binary", freeze=freeze)


async def _first_ids(conn: asyncpg.Connection, tables: Sequence[str]) -> dict[str, int]:
    """The first free id of each table, so seeding a non-empty database adds rows beside the old ones."""
    first: dict[str, int] = {}
    for table in tables:
        if table in IDENTITY_TABLES:
            value = await conn.fetchval(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"')
            first[table] = int(value)
    return first


async def _reset_sequences(conn: asyncpg.Connection, tables: Sequence[str]) -> None:
    for table in tables:
        if table not in IDENTITY_TABLES:
            continue
        sequence = await conn.fetchval("SELECT pg_get_serial_sequence($1, 'id')", f'"{table}"')
        if sequence:
            await conn.execute(
                f'SELECT setval($1::regclass, (SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"), false)', sequence
            )


def _make_batch(
    table: str,
    batch: tuple[int, int, int],
    *,
    seed_value: int,
    plan_: Plan,
    base: dict[str, int],
    keep: list[int],
) -> list[tuple[Any, ...]]:
    """The rows of one batch, cut down to the columns the database has."""
    number, start, stop = batch
    records = GENERATORS[table](_batch_rng(seed_value, table, number), start, stop, plan_, base)
    if len(keep) != len(COLUMNS[table]):
        records = [tuple(record[i] for i in keep) for record in records]
    return records


def _make_binary_batch(
    table: str, batch: tuple[int, int, int], *, seed_value: int, plan_: Plan, base: dict[str, int]
) -> bytes:
    """The rows of one batch as binary COPY tuples (the columns of ``BINARY[table]``, in that order)."""
    number, start, stop = batch
    return BINARY[table][1](_batch_rng(seed_value, table, number), start, stop, plan_, base)


def _binary_columns(table: str, existing: dict[str, str]) -> list[str] | None:
    """The COPY columns of the binary encoder of ``table`` when the database's columns fit it exactly."""
    encoder = BINARY.get(table)
    if encoder is None or any(existing.get(name) != kind for name, kind in encoder[0].items()):
        return None
    return list(encoder[0])


def _prefetch(
    make: Callable[[tuple[int, int, int]], list[tuple[Any, ...]]], batches: list[tuple[int, int, int]], index: int
) -> asyncio.Future[list[tuple[Any, ...]]] | None:
    """Generate batch ``index`` in a thread while the previous one is being copied."""
    if index >= len(batches):
        return None
    return asyncio.ensure_future(asyncio.to_thread(make, batches[index]))


async def _skip_foreign_key_checks(conn: asyncpg.Connection) -> bool:
    """Skip per-row foreign-key triggers for this transaction when the role may (as pg_restore
    --disable-triggers does): the generated rows reference only rows generated before them."""
    import asyncpg

    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
    except asyncpg.PostgresError:
        return False
    return True


async def seed(conn: asyncpg.Connection, options: SeedOptions) -> SeedResult:
    """Fill every AI BotKit table that exists with deterministic fake data.

    Args:
        conn: an open asyncpg connection (not inside a transaction).
        options: ``scale`` (1.0 ≈ 4,700 rows), ``seed``, ``batch_size`` and ``progress``.

    Returns the rows written per table.  Tables the database lacks are skipped;
    columns it lacks are left out.  Runs in one transaction.

    Raises:
        asyncpg.PostgresError: the database rejected the data (callers translate it).
    """
    started = time.perf_counter()
    plan_ = plan(options.scale)
    existing = await _existing_columns(conn)
    tables = [table for table in DEMO_TABLES if table in existing]
    if "aibotkit_team_members" in tables and not {"aibotkit_users", "aibotkit_teams"} <= set(tables):
        tables.remove("aibotkit_team_members")
    total = sum(plan_.rows(table) for table in tables)
    counts: dict[str, int] = {}
    done = 0
    async with conn.transaction():
        await _skip_foreign_key_checks(conn)
        base = {table: 1 for table in IDENTITY_TABLES} | await _first_ids(conn, tables)
        big = [table for table in tables if plan_.rows(table) >= INDEX_REBUILD_ROWS]
        empty = [table for table in tables if await _empty(conn, table)]
        truncated = await _truncate_empty(conn, empty)
        set_aside = await _set_aside_indexes(conn, [table for table in big if table in empty])
        for table in tables:
            wanted = [name for name in COLUMNS[table] if name in existing[table]]
            keep = [COLUMNS[table].index(name) for name in wanted]
            rows_written = 0
            first = base.get(table, 0)
            batches = list(_batches(table, plan_.rows(table), options.batch_size, first))
            binary_columns = _binary_columns(table, existing[table])

            def written(rows: int, table: str = table) -> None:
                nonlocal rows_written, done
                rows_written += rows
                done += rows
                emit(
                    options.progress,
                    JobProgress(
                        phase=f"seeding {table}",
                        done=done,
                        total=total,
                        unit="rows",
                        detail=f"{rows_written:,}/{plan_.rows(table):,} rows",
                    ),
                )

            if binary_columns is not None:
                make_binary = partial(_make_binary_batch, table, seed_value=options.seed, plan_=plan_, base=base)
                await _copy_binary(
                    conn, table, binary_columns, make_binary, batches, written, freeze=table in truncated
                )
                counts[table] = rows_written
                continue
            make = partial(_make_batch, table, seed_value=options.seed, plan_=plan_, base=base, keep=keep)
            upcoming = _prefetch(make, batches, 0)
            try:
                for index in range(len(batches)):
                    assert upcoming is not None
                    records = await upcoming
                    upcoming = _prefetch(make, batches, index + 1)
                    await conn.copy_records_to_table(table, records=records, columns=wanted)
                    written(len(records))
            finally:
                if upcoming is not None:
                    upcoming.cancel()
            counts[table] = rows_written
        if set_aside:
            emit(
                options.progress,
                JobProgress(phase=f"building {len(set_aside)} indexes", done=done, total=total, unit="rows"),
            )
        await _rebuild_indexes(conn, set_aside)
        await _reset_sequences(conn, tables)
    # fresh statistics, so planners and the risk engine's size estimates see the new rows
    if tables:
        await conn.execute("ANALYZE " + ", ".join(f'"{table}"' for table in tables))
    return SeedResult(
        tables=counts,
        total_rows=done,
        seconds=time.perf_counter() - started,
        source="syncdb_tui.demo.seed:seed",
    )
