import datetime as dt

import factory

from accounts.models import User
from accounts.roles import Role
from cases import models as m


class CentreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Centre
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"ctr{n:02d}")
    name = factory.LazyAttribute(lambda o: f"Centre {o.code.upper()}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Product
        django_get_or_create = ("code",)

    code = "axi-cel"
    brand = "Yescarta"
    generic_name = "axicabtagene ciloleucel"
    manufacturer = "Kite / Gilead"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    role = Role.CENTRE_USER
    centre = factory.LazyAttribute(lambda o: CentreFactory() if o.role == Role.CENTRE_USER else None)
    password = factory.django.Password("a-long-test-password")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Patient

    centre = factory.SubFactory(CentreFactory)
    local_id = factory.Sequence(lambda n: f"P{n:05d}")
    sex = "M"
    birth_year = 1962
    weight_kg = 78.0


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Case

    patient = factory.SubFactory(PatientFactory)
    centre = factory.SelfAttribute("patient.centre")
    product = factory.SubFactory(ProductFactory)
    indication = "LBCL"
    diagnosis = "dlbcl"
    approval_date = dt.date(2022, 3, 1)
    public_id = factory.Sequence(lambda n: f"T-{n:06d}")
    ecog = 1
    prior_lines = 2


class ApheresisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Apheresis

    case = factory.SubFactory(CaseFactory)
    number = 1
    date = factory.LazyAttribute(lambda o: o.case.approval_date + dt.timedelta(days=10))


class AttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.ManufacturingAttempt

    apheresis = factory.SubFactory(ApheresisFactory)
    case = factory.SelfAttribute("apheresis.case")
    number = 1
    shipped_on = factory.LazyAttribute(lambda o: o.apheresis.date + dt.timedelta(days=1))
    result_on = factory.LazyAttribute(lambda o: o.shipped_on + dt.timedelta(days=21))
    outcome = m.AttemptOutcome.IN_SPEC
    viable_car_t_dose = 1.5e8
