"""User and auth payloads."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class Role(StrEnum):
    user = "user"
    moderator = "moderator"
    admin = "admin"


class UserBase(BaseModel):
    display_name: str = Field(min_length=1, max_length=80)
    real_name: str | None = Field(default=None, max_length=200)
    shipping_address: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=40)


class UserCreate(UserBase):
    email: EmailStr
    password: str = Field(min_length=10, max_length=256)


class UserUpdate(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=80)
    real_name: str | None = Field(default=None, max_length=200)
    shipping_address: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=40)


class UserPublic(UserBase):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    email: str
    role: Role
    is_active: bool
    created_at: datetime


class UserSummary(BaseModel):
    """What an admin list shows: no personal data beyond the email."""

    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    is_active: bool
    created_at: datetime


class UserList(BaseModel):
    items: list[UserSummary]
    total: int
    page: int
    page_size: int


class RoleUpdate(BaseModel):
    role: Role


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=512)


class SessionPublic(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str
    auth_method: str
    current: bool
