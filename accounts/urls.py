from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views_2fa

app_name = "accounts"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(success_url="/accounts/password/done/"),
         name="password_change"),
    path("two-factor/", views_2fa.two_factor_start, name="two_factor"),
    path("two-factor/setup/", views_2fa.two_factor_setup, name="two_factor_setup"),
    path("two-factor/verify/", views_2fa.two_factor_verify, name="two_factor_verify"),
    path("two-factor/recovery-codes/", views_2fa.recovery_codes, name="recovery_codes"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
