"""argon2id hashes; an unknown username costs the same verification as a known one."""
from heaven.control import passwords


def test_hashes_are_argon2id_salted_and_verify():
    first, second = passwords.hash_password("correct horse"), passwords.hash_password("correct horse")
    assert first.startswith("$argon2id$") and first != second
    assert passwords.verify_password(first, "correct horse")
    assert not passwords.verify_password(first, "correct horsf")
    assert not passwords.verify_password("not a hash", "correct horse")


class Recording:
    def __init__(self, hasher) -> None:
        self.hasher, self.verified = hasher, []

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return self.hasher.verify(password_hash, password)


def test_an_unknown_person_is_checked_against_a_decoy(monkeypatch):
    recording = Recording(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", recording)
    assert not passwords.verify_password(None, "anything at all")
    assert recording.verified and recording.verified[0].startswith("$argon2id$")
