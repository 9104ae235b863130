"""pbx.dialer: outbound campaigns, sans-I/O (events in, actions out, time passed in).

The :class:`~pbx.dialer.dialer.Dialer` holds campaigns (:mod:`pbx.dialer.campaign`) and
their leads (:mod:`pbx.dialer.leads`, imported from CSV); the shell feeds it
:mod:`pbx.dialer.events` with ``now`` and performs the returned
:mod:`pbx.dialer.actions`. Pacing (:mod:`pbx.dialer.pacing`) is one protocol with
preview, progressive, predictive, agentless and blind implementations; the rules —
calling hours, do-not-call lists, abandon windows, the 72-hour redial hold — are in
:mod:`pbx.dialer.compliance`. It never imports the call layer.
"""

from __future__ import annotations

from pbx.dialer.actions import (
    CampaignStateChanged,
    ConnectToAgent,
    Dial,
    DialerAction,
    Enqueue,
    HangUp,
    LeadChanged,
    LeaveMessage,
    OfferPreview,
    PacingLogged,
    PlayAbandonMessage,
    RunScript,
    WithdrawPreview,
)
from pbx.dialer.campaign import (
    CallingHours,
    CampaignConfig,
    Mode,
    OnMachine,
    RetryRule,
    RetryRules,
    campaign_from_dict,
)
from pbx.dialer.compliance import AbandonStats, DncRegistry
from pbx.dialer.dialer import Dialer
from pbx.dialer.events import (
    AgentAvailable,
    AgentAway,
    AgentBusy,
    AgentConnected,
    AttemptAnswered,
    AttemptEnded,
    AttemptFailed,
    AttemptRinging,
    ConfirmationDigit,
    DialerEvent,
    Disposition,
    DncAdded,
    DncRemoved,
    GreetingEnded,
    LeadsAdded,
    PauseCampaign,
    PreviewDecision,
    ResumeCampaign,
    StartCampaign,
    StopCampaign,
)
from pbx.dialer.leads import Attempt, ImportReport, Lead, LeadState, RowError, import_leads
from pbx.dialer.models import CampaignState, CampaignView
from pbx.dialer.outcomes import Outcome
from pbx.dialer.pacing import (
    BlindPacer,
    LinePacer,
    Pacer,
    PacingDecision,
    PacingState,
    PredictivePacer,
    PreviewPacer,
    ProgressivePacer,
)

__all__ = [
    "AbandonStats",
    "AgentAvailable",
    "AgentAway",
    "AgentBusy",
    "AgentConnected",
    "Attempt",
    "AttemptAnswered",
    "AttemptEnded",
    "AttemptFailed",
    "AttemptRinging",
    "BlindPacer",
    "CallingHours",
    "CampaignConfig",
    "CampaignState",
    "CampaignStateChanged",
    "CampaignView",
    "ConfirmationDigit",
    "ConnectToAgent",
    "Dial",
    "Dialer",
    "DialerAction",
    "DialerEvent",
    "Disposition",
    "DncAdded",
    "DncRegistry",
    "DncRemoved",
    "Enqueue",
    "GreetingEnded",
    "HangUp",
    "ImportReport",
    "Lead",
    "LeadChanged",
    "LeadState",
    "LeadsAdded",
    "LeaveMessage",
    "LinePacer",
    "Mode",
    "OfferPreview",
    "OnMachine",
    "Outcome",
    "Pacer",
    "PacingDecision",
    "PacingLogged",
    "PacingState",
    "PauseCampaign",
    "PlayAbandonMessage",
    "PredictivePacer",
    "PreviewDecision",
    "PreviewPacer",
    "ProgressivePacer",
    "ResumeCampaign",
    "RetryRule",
    "RetryRules",
    "RowError",
    "RunScript",
    "StartCampaign",
    "StopCampaign",
    "WithdrawPreview",
    "campaign_from_dict",
    "import_leads",
]
