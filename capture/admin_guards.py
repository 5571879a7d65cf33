"""Admin pages for rows that must not be deleted while something uses them."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.shortcuts import redirect


class GuardedDeleteMixin:
    """Rows still in use (obj.why_not_deletable(): rules use a tier, leads carry a custom
    field) are not deleted: the delete page goes back to the row with the reason, and the bulk
    delete names them and deletes the rest (Django's own action would delete them all, or
    refuse the whole selection with a bare 403)."""

    def refusal(self, obj, reason: str) -> str:
        return f"“{obj}” was not deleted. {reason}"

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if obj is not None and self.has_delete_permission(request, obj) \
                and (reason := obj.why_not_deletable()):
            self.message_user(request, self.refusal(obj, reason), messages.ERROR)
            opts = self.model._meta
            return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk)
        return super().delete_view(request, object_id, extra_context)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            try:
                self.delete_model(request, obj)
            except ValidationError as exc:
                self.message_user(request, self.refusal(obj, " ".join(exc.messages)),
                                  messages.ERROR)

    @admin.action(description="Delete selected %(verbose_name_plural)s",
                  permissions=["delete"])
    def delete_selected(self, request, queryset):
        kept = {obj.pk: self.refusal(obj, reason) for obj in queryset
                if (reason := obj.why_not_deletable())}
        for text in kept.values():
            self.message_user(request, text, messages.ERROR)
        rest = queryset.exclude(pk__in=list(kept))
        if not rest.exists():
            return None
        return admin_actions.delete_selected(self, request, rest)
