import asyncio
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from panther.configs import config
from panther.db import DuplicateError, Model
from panther.db.models import (
    BaseUser,
    get_user_model,
    hash_password,
    is_password_hash,
    verify_password,
)
from panther.exceptions import ConfigError


class User(BaseUser):
    email: str | None = None


@pytest.fixture(autouse=True)
def _db(database):
    return database


@pytest.fixture
def user_model_config():
    previous = config.USER_MODEL
    yield
    config.USER_MODEL = previous


def test_hash_format_and_verify():
    hashed = hash_password('s3cret')
    algorithm, n, r, p, salt, digest = hashed.split('$')
    assert (algorithm, n, r, p) == ('scrypt', '16384', '8', '1')
    assert salt and digest
    assert is_password_hash(hashed)
    assert verify_password('s3cret', hashed)
    assert not verify_password('S3cret', hashed)
    assert hash_password('s3cret') != hashed  # salted


@pytest.mark.parametrize(
    'stored', ['', 's3cret', 'scrypt$1$2$3$!!$!!', 'pbkdf2$x$y', 'scrypt$16384$8$1$a$b']
)
def test_verify_rejects_malformed_hashes(stored):
    assert verify_password('s3cret', stored) is False


def test_check_password_compares_in_constant_time(monkeypatch):
    user = BaseUser(username='ali', password='s3cret')
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, 'compare_digest', spy)
    assert user.check_password('s3cret')
    assert calls


def test_raw_password_is_hashed_on_validation():
    user = BaseUser(username='ali', password='s3cret')
    assert user.password != 's3cret' and is_password_hash(user.password)
    assert user.check_password('s3cret')
    assert 's3cret' not in repr(user) and 'scrypt' not in repr(user)
    assert 'password' not in user.model_dump()
    assert 'scrypt' not in user.model_dump_json()
    # An existing hash is kept as it is.
    assert BaseUser(username='ali', password=user.password).password == user.password


async def test_create_user_and_load_it():
    before = datetime.now(UTC)
    user = await BaseUser.create_user('ali', 's3cret')
    assert user.id == 1
    assert before <= user.date_created <= datetime.now(UTC)
    assert user.last_login is None
    loaded = await BaseUser.find_one(id=user.id)
    assert loaded == user
    assert loaded.date_created.utcoffset() == timedelta(0)
    assert loaded.check_password('s3cret') and not loaded.check_password('wrong')


async def test_plain_insert_never_stores_the_raw_password():
    await BaseUser.insert_one(username='ali', password='s3cret')
    stored = await BaseUser.find_one(username='ali')
    assert is_password_hash(stored.password)
    assert stored.check_password('s3cret')


async def test_usernames_are_unique():
    await BaseUser.create_user('ali', 'one')
    with pytest.raises(DuplicateError) as info:
        await BaseUser.create_user('ali', 'two')
    assert info.value.fields == ('username',)


async def test_usernames_stay_unique_under_concurrency():
    outcomes = await asyncio.gather(
        *(BaseUser.create_user('same', f'pw{i}') for i in range(20)), return_exceptions=True
    )
    winners = [o for o in outcomes if isinstance(o, BaseUser)]
    assert len(winners) == 1
    assert all(isinstance(o, DuplicateError) for o in outcomes if o not in winners)
    assert await BaseUser.count(username='same') == 1


async def test_update_last_login_and_set_password():
    user = await BaseUser.create_user('ali', 'old')
    await user.update_last_login()
    assert user.last_login is not None
    assert (datetime.now(UTC) - user.last_login) < timedelta(seconds=5)
    assert (await BaseUser.find_one(id=user.id)).last_login == user.last_login

    await user.set_password('new')
    stored = await BaseUser.find_one(id=user.id)
    assert stored.check_password('new') and not stored.check_password('old')
    assert stored.last_login == user.last_login


async def test_subclass_is_its_own_table_and_keeps_unique_usernames():
    user = await User.create_user('ali', 'pw', email='ali@example.com')
    assert User._table().name == 'user'
    assert (await User.find_one(email='ali@example.com')) == user
    assert await BaseUser.count() == 0
    with pytest.raises(DuplicateError):
        await User.create_user('ali', 'pw')


def test_get_user_model(user_model_config):
    config.USER_MODEL = None
    assert get_user_model() is BaseUser
    config.USER_MODEL = User
    assert get_user_model() is User
    config.USER_MODEL = f'{__name__}.User'
    assert get_user_model() is User
    config.USER_MODEL = dict
    with pytest.raises(ConfigError, match=r'^USER_MODEL: .* is not a model class'):
        get_user_model()
    config.USER_MODEL = 'nowhere.User'
    with pytest.raises(ConfigError, match=r'^USER_MODEL'):
        get_user_model()


def test_any_model_subclass_is_accepted_as_user_model(user_model_config):
    class Member(Model):
        name: str

    config.USER_MODEL = Member
    assert get_user_model() is Member
