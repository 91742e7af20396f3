"""Request and response bodies of the users module."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates

from oms.http.schemas import CamelSchema, PageSchema, PostalAddress

BCRYPT_MAX_BYTES = 72


class Credentials(CamelSchema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=BCRYPT_MAX_BYTES))


class Registration(Credentials):
    password = fields.String(required=True, validate=validate.Length(min=8))
    first_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    last_name = fields.String(required=True, validate=validate.Length(min=1, max=100))

    @validates("password")
    def password_fits_bcrypt(self, value: str, **_: object) -> None:
        # bcrypt ignores (bcrypt 5: rejects) bytes past 72; refuse rather than truncate.
        if len(value.encode()) > BCRYPT_MAX_BYTES:
            raise ValidationError(f"Must be at most {BCRYPT_MAX_BYTES} bytes long.")


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

    first_name = fields.String(validate=validate.Length(min=1, max=100))
    last_name = fields.String(validate=validate.Length(min=1, max=100))


class AddressSchema(PostalAddress):
    address_id = fields.String(required=True)
    is_default = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class AddressPage(PageSchema):
    items = fields.List(fields.Nested(AddressSchema), required=True)
