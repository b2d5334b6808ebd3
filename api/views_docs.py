from django.views.generic import TemplateView


class SwaggerView(TemplateView):
    """Swagger UI over /api/schema/, served from the vendored assets."""

    template_name = "api/swagger.html"
