"""Every ORM class. Importing this package registers all tables on Base.metadata."""

from roost.models.account import AccessToken, Account
from roost.models.contact import Contact, ContactTag
from roost.models.crm import Appointment, Note, Task
from roost.models.event import Event
from roost.models.field import CustomField
from roost.models.job import Job
from roost.models.tag import Tag

__all__ = [
    "AccessToken",
    "Account",
    "Appointment",
    "Contact",
    "ContactTag",
    "CustomField",
    "Event",
    "Job",
    "Note",
    "Tag",
    "Task",
]
