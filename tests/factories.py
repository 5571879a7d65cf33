"""factory_boy factories for the models tests need."""

import factory
from django.contrib.auth import get_user_model

from capture.models import IntakeForm, Lead


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")


class IntakeFormFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IntakeForm
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"form-{n}")
    title = "Request a quote"
    min_fill_seconds = 0


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    first_name = "Ada"
    last_name = "Lovelace"
    email = factory.Sequence(lambda n: f"ada{n}@example.com")
    channel = Lead.Channel.WEB_FORM


TECH_STACK = "AWS\nAzure\nGCP\non-premises\nMicrosoft 365\nGoogle Workspace"
