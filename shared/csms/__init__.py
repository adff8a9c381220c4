"""What the two bundled test CSMSs (`csms_v16`, `csms_v201`) share."""

from shared.csms.settings import AuthorizationPolicy, BootPolicy, CsmsSettings
from shared.csms.state import CsmsState

__all__ = ["AuthorizationPolicy", "BootPolicy", "CsmsSettings", "CsmsState"]
