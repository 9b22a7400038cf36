"""Users: registration, login, profiles and roles, with personal data encrypted at rest."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.core.crypto import BlindIndex, FieldCipher, normalize_email
from serve_app.core.errors import AuthenticationFailed, EmailAlreadyRegistered, UserNotFound
from serve_app.core.passwords import hash_password, needs_rehash, verify_password
from serve_app.db.tables import OAuthAccount, User
from serve_app.schemas.users import Role, UserCreate, UserPublic, UserSummary, UserUpdate

PII_FIELDS = ("real_name", "shipping_address", "phone")


@dataclass(frozen=True)
class Vault:
    """What it takes to seal and open user rows."""

    cipher: FieldCipher
    index: BlindIndex


async def create_user(
    session: AsyncSession,
    *,
    vault: Vault,
    data: UserCreate | None = None,
    email: str | None = None,
    display_name: str | None = None,
    password: str | None = None,
    role: Role = Role.user,
) -> User:
    """Create a user; ``data`` for registration, keywords for OIDC sign-up and the CLI."""
    email = normalize_email(str(data.email) if data else email or "")
    password = data.password if data else password
    user = User(
        id=uuid.uuid4(),
        email_index=vault.index.email(email),
        email_ct=b"",
        wrapped_dek=b"",
        kek_id="",
        display_name=(data.display_name if data else display_name) or email.split("@")[0],
        password_hash=hash_password(password) if password else None,
        role=role.value,
    )
    dek, user.wrapped_dek, user.kek_id = vault.cipher.new_data_key()
    user.email_ct = FieldCipher.encrypt(dek, str(user.id), "email", email) or b""
    if data:
        for field in PII_FIELDS:
            setattr(user, f"{field}_ct", FieldCipher.encrypt(dek, str(user.id), field, getattr(data, field)))
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise EmailAlreadyRegistered() from None
    return user


async def find_by_email(session: AsyncSession, *, vault: Vault, email: str) -> User | None:
    stmt = select(User).where(User.email_index == vault.index.email(email))
    return (await session.exec(stmt)).first()


async def authenticate(session: AsyncSession, *, vault: Vault, email: str, password: str) -> User:
    user = await find_by_email(session, vault=vault, email=email)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_active:
        raise AuthenticationFailed("incorrect email or password")
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.add(user)
    return user


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


def to_public(user: User, *, vault: Vault) -> UserPublic:
    dek = vault.cipher.data_key(user.wrapped_dek, user.kek_id)
    opened = {f: FieldCipher.decrypt(dek, str(user.id), f, getattr(user, f"{f}_ct")) for f in PII_FIELDS}
    return UserPublic(
        id=user.id,
        email=FieldCipher.decrypt(dek, str(user.id), "email", user.email_ct) or "",
        display_name=user.display_name,
        role=Role(user.role),
        is_active=user.is_active,
        created_at=user.created_at,
        **opened,
    )


async def update_profile(session: AsyncSession, *, vault: Vault, user: User, data: UserUpdate) -> User:
    dek = vault.cipher.data_key(user.wrapped_dek, user.kek_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("display_name"):
        user.display_name = changes["display_name"]
    for field in PII_FIELDS:
        if field in changes:
            setattr(user, f"{field}_ct", FieldCipher.encrypt(dek, str(user.id), field, changes[field]))
    session.add(user)
    await session.flush()
    return user


async def list_users(
    session: AsyncSession, *, vault: Vault, page: int, page_size: int
) -> tuple[list[UserSummary], int]:
    total = (await session.exec(select(func.count()).select_from(User))).one()
    rows = (
        await session.exec(
            select(User).order_by(col(User.created_at), col(User.id)).offset((page - 1) * page_size).limit(page_size)
        )
    ).all()
    items = []
    for user in rows:
        public = to_public(user, vault=vault)
        items.append(
            UserSummary(
                id=user.id,
                email=public.email,
                display_name=user.display_name,
                role=Role(user.role),
                is_active=user.is_active,
                created_at=user.created_at,
            )
        )
    return items, int(total)


async def set_role(session: AsyncSession, *, user_id: uuid.UUID, role: Role) -> User:
    user = await get_user(session, user_id)
    user.role = role.value
    session.add(user)
    await session.flush()
    return user


async def user_for_oidc(
    session: AsyncSession,
    *,
    vault: Vault,
    provider: str,
    subject: str,
    email: str | None,
    email_verified: bool,
    display_name: str | None,
) -> User:
    """The user linked to an external identity; linked by verified email or created on first login."""
    link = (
        await session.exec(
            select(OAuthAccount).where(OAuthAccount.provider == provider, OAuthAccount.subject == subject)
        )
    ).first()
    if link is not None:
        return await get_user(session, link.user_id)
    user = await find_by_email(session, vault=vault, email=email) if email and email_verified else None
    if user is None:
        if not email:
            raise AuthenticationFailed("the identity provider did not share an email address")
        user = await create_user(session, vault=vault, email=email, display_name=display_name)
    session.add(OAuthAccount(user_id=user.id, provider=provider, subject=subject))
    await session.flush()
    return user
