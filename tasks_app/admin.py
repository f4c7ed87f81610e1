from django.contrib import admin

from tasks_app.models import ApiToken, Attempt, Event, ResourcePool, Task, Tree

for model in (Tree, Task, Attempt, Event, ResourcePool, ApiToken):
    admin.site.register(model)
