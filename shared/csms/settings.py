"""Settings of a bundled test CSMS, changeable at runtime through `PUT /api/settings`."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.schemas.common import INT32_MAX, RequestBody


class BootPolicy(StrEnum):
    accept = "accept"
    pending = "pending"
    reject = "reject"


class AuthorizationPolicy(StrEnum):
    accept_all = "accept_all"
    allow_list = "allow_list"


BOOT_STATUS: dict[BootPolicy, str] = {
    BootPolicy.accept: "Accepted",
    BootPolicy.pending: "Pending",
    BootPolicy.reject: "Rejected",
}


class CsmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    boot_policy: BootPolicy = BootPolicy.accept
    heartbeat_interval: int = Field(60, ge=1, description="Seconds, sent in an accepted boot.")
    boot_retry_interval: int = Field(
        10, ge=1, description="Seconds, sent in a pending or rejected boot."
    )
    authorization: AuthorizationPolicy = AuthorizationPolicy.accept_all
    allowed_id_tags: set[str] = Field(default_factory=set)
    charge_point_passwords: dict[str, str] = Field(
        default_factory=dict,
        description="Basic-auth password required per charge point id (security profile 1).",
    )
    message_log_size: int = Field(10_000, ge=1, description="Frames kept per charge point.")
    transaction_limit: int = Field(
        10_000, ge=1, description="Transactions kept; the oldest are forgotten first."
    )


class CsmsSettingsPublic(BaseModel):
    """The settings as shown by the API: passwords are not echoed, only who has one."""

    boot_policy: BootPolicy
    heartbeat_interval: int
    boot_retry_interval: int
    authorization: AuthorizationPolicy
    allowed_id_tags: list[str]
    password_protected_charge_points: list[str]
    message_log_size: int
    transaction_limit: int

    @classmethod
    def of(cls, settings: CsmsSettings) -> "CsmsSettingsPublic":
        return cls(
            **settings.model_dump(exclude={"allowed_id_tags", "charge_point_passwords"}),
            allowed_id_tags=sorted(settings.allowed_id_tags),
            password_protected_charge_points=sorted(settings.charge_point_passwords),
        )


class CsmsSettingsUpdate(RequestBody):
    """A partial update: only the fields sent change; `charge_point_passwords` replaces the map."""

    boot_policy: BootPolicy | None = None
    heartbeat_interval: int | None = Field(None, ge=1, le=INT32_MAX)
    boot_retry_interval: int | None = Field(None, ge=1, le=INT32_MAX)
    authorization: AuthorizationPolicy | None = None
    allowed_id_tags: set[str] | None = None
    charge_point_passwords: dict[str, str] | None = None
    message_log_size: int | None = Field(None, ge=1, le=INT32_MAX)
    transaction_limit: int | None = Field(None, ge=1, le=INT32_MAX)
