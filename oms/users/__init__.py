"""The users module: accounts, sign-in and saved addresses.

Public API: the names below are all that other packages may use.
"""

from oms.users.handlers import event_handlers
from oms.users.models import MESSAGES, Base
from oms.users.passwords import password_problems
from oms.users.routes import blueprints
from oms.users.schemas import (
    AddressPage,
    AddressSchema,
    AuthResult,
    Credentials,
    PasswordChange,
    ProfileChanges,
    Registration,
    UserSchema,
)
from oms.users.service import (
    AddressView,
    SignedIn,
    UserView,
    add_address,
    change_password,
    create_admin,
    default_address,
    delete_address,
    find_user_by_email,
    get_address,
    get_user,
    get_users,
    list_addresses,
    login,
    mark_default_address,
    register,
    token_is_current,
    update_profile,
)

metadata = Base.metadata

__all__ = [
    "MESSAGES",
    "AddressPage",
    "AddressSchema",
    "AddressView",
    "AuthResult",
    "Credentials",
    "PasswordChange",
    "ProfileChanges",
    "Registration",
    "SignedIn",
    "UserSchema",
    "UserView",
    "add_address",
    "blueprints",
    "change_password",
    "create_admin",
    "default_address",
    "delete_address",
    "event_handlers",
    "find_user_by_email",
    "get_address",
    "get_user",
    "get_users",
    "list_addresses",
    "login",
    "mark_default_address",
    "metadata",
    "password_problems",
    "register",
    "token_is_current",
    "update_profile",
]
