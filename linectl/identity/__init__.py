"""Identity: users and roles, the one permission matrix, passwords (argon2id), lockout,
sessions, API tokens, electronic signatures and directory login (LDAP).

Above the ledger (which holds the rows and speaks the SQL), below every interface (CLI, control
API, and the HMI and OPC UA server to come), which all ask the same :mod:`matrix`.
"""

from linectl.identity.accounts import Directory, DirectoryUser, Identity
from linectl.identity.errors import (
    AuthenticationFailed,
    IdentityError,
    PasswordExpired,
    PermissionDenied,
    PolicyViolation,
    SignatureRefused,
)
from linectl.identity.matrix import (
    CLI_PERMISSIONS,
    CONTROL_PERMISSIONS,
    MATRIX,
    SIGNED_ACTIONS,
    Permission,
    Role,
    allowed,
)
from linectl.identity.principal import Principal
from linectl.identity.signatures import Signatures

__all__ = [
    "CLI_PERMISSIONS",
    "CONTROL_PERMISSIONS",
    "MATRIX",
    "SIGNED_ACTIONS",
    "AuthenticationFailed",
    "Directory",
    "DirectoryUser",
    "Identity",
    "IdentityError",
    "PasswordExpired",
    "Permission",
    "PermissionDenied",
    "PolicyViolation",
    "Principal",
    "Role",
    "SignatureRefused",
    "Signatures",
    "allowed",
]
