"""Database backends: Django's own, with what leadcrm's settings need on top."""
