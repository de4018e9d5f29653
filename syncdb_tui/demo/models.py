"""SQLAlchemy 2.0 models of the AI BotKit demo schema (the head of ``demo/migrations``).

Who uses it: ``syncdb.toml`` of the demo names ``syncdb_tui.demo.models:metadata`` as
``target_metadata``; the demo's ``env.py`` uses the same ``metadata`` for autogenerate; the
drift check compares it with live databases.  Every index and constraint has an explicit
name matching what the migrations create, so a database at head shows no drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    """Declarative base of the demo models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "aibotkit_users"
    __table_args__ = (UniqueConstraint("email", name="aibotkit_users_email_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    chatbots: Mapped[list[Chatbot]] = relationship(back_populates="user", cascade="all, delete-orphan")
    memberships: Mapped[list[TeamMember]] = relationship(back_populates="user", cascade="all, delete-orphan")


class Team(Base):
    __tablename__ = "aibotkit_teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    stripe_customer_id: Mapped[str | None] = mapped_column(Text)
    stripe_subscription_id: Mapped[str | None] = mapped_column(Text)
    plan_name: Mapped[str | None] = mapped_column(String(50))
    subscription_status: Mapped[str | None] = mapped_column(String(20))

    members: Mapped[list[TeamMember]] = relationship(back_populates="team", cascade="all, delete-orphan")


class TeamMember(Base):
    __tablename__ = "aibotkit_team_members"
    __table_args__ = (Index("idx_team_members_team_id", "team_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("aibotkit_users.id", ondelete="CASCADE"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("aibotkit_teams.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(50), nullable=False)

    user: Mapped[User] = relationship(back_populates="memberships")
    team: Mapped[Team] = relationship(back_populates="members")


class Chatbot(Base):
    __tablename__ = "aibotkit_chatbots"
    __table_args__ = (Index("idx_chatbots_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("aibotkit_users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    style: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    welcome_messages: Mapped[list[str] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    analytics_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))

    user: Mapped[User] = relationship(back_populates="chatbots")
    conversations: Mapped[list[Conversation]] = relationship(back_populates="chatbot", cascade="all, delete-orphan")
    documents: Mapped[list[Document]] = relationship(back_populates="chatbot", cascade="all, delete-orphan")
    analytics: Mapped[list[Analytics]] = relationship(back_populates="chatbot", cascade="all, delete-orphan")


class Conversation(Base):
    __tablename__ = "aibotkit_conversations"
    __table_args__ = (
        Index("idx_conversations_chatbot_id", "chatbot_id"),
        Index("idx_conversations_session_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chatbot_id: Mapped[int] = mapped_column(ForeignKey("aibotkit_chatbots.id", ondelete="CASCADE"), nullable=False)
    session_id: Mapped[str] = mapped_column(String(64), nullable=False)
    guest_ip: Mapped[str | None] = mapped_column(INET)

    chatbot: Mapped[Chatbot] = relationship(back_populates="conversations")
    messages: Mapped[list[Message]] = relationship(back_populates="conversation", cascade="all, delete-orphan")


class Document(Base):
    __tablename__ = "aibotkit_documents"
    __table_args__ = (Index("idx_documents_chatbot_id", "chatbot_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chatbot_id: Mapped[int] = mapped_column(ForeignKey("aibotkit_chatbots.id", ondelete="CASCADE"), nullable=False)
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    source: Mapped[str | None] = mapped_column(Text)
    pinecone_id: Mapped[str | None] = mapped_column(String(64))

    chatbot: Mapped[Chatbot] = relationship(back_populates="documents")


class Message(Base):
    __tablename__ = "aibotkit_messages"
    __table_args__ = (Index("idx_messages_conversation_id", "conversation_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("aibotkit_conversations.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Analytics(Base):
    __tablename__ = "aibotkit_analytics"
    __table_args__ = (
        Index("idx_analytics_chatbot_id", "chatbot_id"),
        Index("idx_analytics_date", "date"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    chatbot_id: Mapped[int] = mapped_column(ForeignKey("aibotkit_chatbots.id", ondelete="CASCADE"), nullable=False)
    date: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    message_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    unique_users: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())

    chatbot: Mapped[Chatbot] = relationship(back_populates="analytics")


metadata = Base.metadata
"""The models' MetaData: ``target_metadata`` of the demo."""

__all__ = [
    "Analytics",
    "Base",
    "Chatbot",
    "Conversation",
    "Document",
    "Message",
    "Team",
    "TeamMember",
    "User",
    "metadata",
]
