"""Channel adapters: each turns one provider's payload into an IntakeInput for the intake."""

from capture.channels import (  # noqa: F401  (each registers its normalisers)
    api,
    calendly,
    email,
    imports,
    linkedin,
    meta,
    slack,
    telegram,
    twilio,
    webform,
    webhook,
    x,
)
