"""Request and response bodies of the users module."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from oms.http.schemas import CamelSchema, PageSchema, PostalAddress, Text
from oms.users.passwords import BCRYPT_MAX_BYTES, MIN_LENGTH, password_problems

POLICY = (
    f"At least {MIN_LENGTH} characters and at most {BCRYPT_MAX_BYTES} bytes (UTF-8); not the "
    "email address; not a commonly used password; at least 4 different characters."
)


def _new_password(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.Length(min=MIN_LENGTH, max=BCRYPT_MAX_BYTES),
        metadata={"description": POLICY, "format": "password"},
        **kwargs,
    )


class Credentials(CamelSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(
        required=True,
        validate=validate.Length(min=1, max=BCRYPT_MAX_BYTES),
        metadata={"format": "password"},
    )


class Registration(Credentials):
    password = _new_password(required=True)
    first_name = Text(required=True, max_length=100)
    last_name = Text(required=True, max_length=100)

    @validates_schema
    def password_follows_the_policy(self, data: dict, **_: object) -> None:
        if "password" in data:
            problems = password_problems(data["password"], data.get("email"))
            if problems:
                raise ValidationError(problems, field_name="password")


class PasswordChange(CamelSchema):
    current_password = fields.String(
        required=True,
        validate=validate.Length(min=1, max=BCRYPT_MAX_BYTES),
        metadata={"format": "password"},
    )
    new_password = _new_password(required=True)

    @validates("new_password")
    def follows_the_policy(self, value: str, **_: object) -> None:
        problems = password_problems(value)
        if problems:
            raise ValidationError(problems)


class AuthResult(CamelSchema):
    user_id = fields.String(required=True)
    email = fields.String(required=True)
    token = fields.String(required=True)


class UserSchema(CamelSchema):
    user_id = fields.String(required=True)
    email = fields.String(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    role = fields.String(required=True)
    created_at = fields.DateTime(required=True)


class ProfileChanges(CamelSchema):
    """The names a user may change on their own profile."""

    first_name = Text(max_length=100)
    last_name = Text(max_length=100)


class AddressSchema(PostalAddress):
    address_id = fields.String(required=True)
    is_default = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class AddressPage(PageSchema):
    items = fields.List(fields.Nested(AddressSchema), required=True)
