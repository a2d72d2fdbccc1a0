from django.contrib import admin

from pems.access.models import Staff
from pems.audit.admin import AuditedAdmin


@admin.register(Staff)
class StaffAdmin(AuditedAdmin):
    list_display = ["user", "role", "all_sites"]
    list_filter = ["role", "all_sites"]
    filter_horizontal = ["sites"]
