"""Every ORM class. Importing this package registers all tables on Base.metadata."""

from roost.models.account import AccessToken, Account
from roost.models.contact import Contact, ContactTag
from roost.models.event import Event
from roost.models.field import CustomField
from roost.models.job import Job
from roost.models.tag import Tag

__all__ = ["AccessToken", "Account", "Contact", "ContactTag", "CustomField", "Event", "Job", "Tag"]
