"""Every ORM class. Importing this package registers all tables on Base.metadata."""

from roost.db import Base
from roost.models.account import AccessToken, Account
from roost.models.broadcast import Broadcast, Segment
from roost.models.channel import Channel, ChannelMessage, ChannelMessageTag, Media, TemplateProject, TemplateVersion
from roost.models.contact import Contact, ContactTag
from roost.models.conversion import Conversion
from roost.models.crm import Appointment, Note, Task
from roost.models.event import Event
from roost.models.field import CustomField
from roost.models.form import Form
from roost.models.job import Job
from roost.models.message import MARKETING_KINDS, CapturedMail, Interaction, Message
from roost.models.pixel import PageViewDay
from roost.models.rule import Rule, RuleRun
from roost.models.sequence import ContactSequence, Sequence, SequenceEmail
from roost.models.tag import Tag
from roost.models.webhook import WebhookDelivery, WebhookEndpoint, WebhookMessage

__all__ = [
    "MARKETING_KINDS",
    "AccessToken",
    "Account",
    "Appointment",
    "Broadcast",
    "CapturedMail",
    "Channel",
    "ChannelMessage",
    "ChannelMessageTag",
    "Contact",
    "ContactSequence",
    "ContactTag",
    "Conversion",
    "CustomField",
    "Event",
    "Form",
    "Interaction",
    "Job",
    "Media",
    "Message",
    "Note",
    "PageViewDay",
    "Rule",
    "RuleRun",
    "Segment",
    "Sequence",
    "SequenceEmail",
    "Tag",
    "Task",
    "TemplateProject",
    "TemplateVersion",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
]

# SQLite gives a table keyed by an INTEGER its ids one past the largest left, so a deleted newest
# row's id came back (migration 0014). Declared here, autogenerate writes it into new tables.
for _table in Base.metadata.tables.values():
    if "id" in _table.c and _table.c.id.primary_key:
        _table.dialect_options["sqlite"]["autoincrement"] = True
