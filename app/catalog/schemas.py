import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AliasChoices, ConfigDict, Field, StringConstraints

from app.catalog.models import ChallengeStatus
from app.core.schemas import InputModel, IntegralNumber, MultiLine, OutputModel, PatchModel, SingleLine

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
MAX_IMPORT_ITEMS = 1000

Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=SLUG_PATTERN),
    Field(
        description="A stable, human-readable key: lower-case letters, digits and single hyphens (at most 100). "
        "Imports match challenges by it.",
        examples=["ask-stranger-for-the-time"],
    ),
]
CategorySlug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=50, pattern=SLUG_PATTERN),
    Field(
        description="The category's slug (see `GET /api/v1/categories`).",
        examples=["everyday"],
    ),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    SingleLine,
    Field(
        description="The ask in one line, starting with a verb (at most 200 characters).",
        examples=["Ask a stranger for the time"],
    ),
]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    MultiLine,
    Field(
        description="Where, whom and how to ask, and how to leave gracefully after a no (at most 4000 characters).",
        examples=[
            "At a bus stop, ask someone who does not look rushed: 'Excuse me, do you know the time?' "
            "If they shake their head, thank them and walk on."
        ],
    ),
]
Difficulty = Annotated[
    int,
    Field(
        strict=True,
        ge=1,
        le=10,
        description="1–10: about the distress (SUDS) a person who fears rejection expects, divided by ten. "
        "1 = barely uncomfortable, 5 = personal exposure, 10 = the hardest asks people dare.",
        examples=[3],
    ),
    IntegralNumber,
]
Tip = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    MultiLine,
]
Tips = Annotated[
    list[Tip],
    Field(
        max_length=10,
        description="Up to 10 short tips (each at most 500 characters): a reappraisal, a self-affirmation "
        "or a mindfulness cue for this ask.",
        examples=[["They said no to the request, not to you."]],
    ),
]
StatusField = Annotated[
    ChallengeStatus,
    Field(
        description="`draft`: only admins see it. `published`: in the catalog. "
        "`archived`: out of the catalog, kept for the attempts that refer to it.",
        examples=["published"],
    ),
]
CategoryName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    SingleLine,
    Field(description="The category's display name (at most 100 characters).", examples=["Everyday asks"]),
]
CategoryDescription = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=1000),
    MultiLine,
    Field(
        description="What kind of asks the category holds (at most 1000 characters).",
        examples=["Small requests of strangers in the ordinary places of daily life."],
    ),
]


# --- categories ---------------------------------------------------------------


class CategoryPublic(OutputModel):
    slug: str = Field(description="The category's key; challenges name it in `category`.", examples=["everyday"])
    name: str = Field(description="The display name.", examples=["Everyday asks"])
    description: str = Field(description="What kind of asks the category holds.")


class CategoryCreate(InputModel):
    slug: CategorySlug = Field(
        description="The new category's key: lower-case letters, digits and single hyphens (at most 50). "
        "Challenges name it in `category`; it cannot change later.",
        examples=["online"],
    )
    name: CategoryName
    description: CategoryDescription = ""


class CategoryUpdate(PatchModel):
    name: CategoryName | None = None
    description: CategoryDescription | None = None


# --- challenges ---------------------------------------------------------------


class ChallengePublic(OutputModel):
    id: uuid.UUID = Field(description="The challenge's id; attempts refer to it as `challenge_id`.")
    slug: str = Field(description="A stable, human-readable key.", examples=["ask-stranger-for-the-time"])
    title: str = Field(description="The ask in one line.", examples=["Ask a stranger for the time"])
    description: str = Field(
        description="Where, whom and how to ask, and how to leave gracefully after a no.",
        examples=["At a bus stop, ask someone who does not look rushed for the time; thank them either way."],
    )
    category: str = Field(
        validation_alias=AliasChoices("category_slug", "category"),
        description="The category's slug.",
        examples=["everyday"],
    )
    difficulty: int = Field(description="1 (barely uncomfortable) to 10 (the hardest asks).", examples=[3])
    tips: list[str] = Field(
        description="Short tips for this ask.", examples=[["They said no to the request, not to you."]]
    )
    status: ChallengeStatus = Field(description="`draft`, `published` or `archived`.", examples=["published"])
    is_custom: bool = Field(
        description="True for a challenge you wrote yourself, seen by nobody else.", examples=[False]
    )
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it last changed (UTC).")


class AdminChallengePublic(ChallengePublic):
    version: int = Field(
        description="Goes up by one on every change. The `ETag` header carries it: send it back as "
        '`If-Match` (e.g. `"3"`) on PATCH so you never overwrite another admin\'s change unseen.',
        examples=[3],
    )


class ChallengeCreate(InputModel):
    """A custom challenge of your own: seen by nobody else, published for you at once."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "title": "Ask the bakery for yesterday's bread at half price",
                "description": "Near closing time, ask politely whether day-old loaves go cheaper. "
                "If not, ask what they do with them, thank them and buy what you came for.",
                "category": "food-and-shops",
                "difficulty": 3,
                "tips": ["Notice the flutter before you ask; breathe out slowly and let it pass."],
            }
        }
    )

    title: Title
    description: Description
    category: CategorySlug
    difficulty: Difficulty
    tips: Tips = Field(default_factory=list)


class ChallengeUpdate(PatchModel):
    """Fields to change; those left out keep their value."""

    model_config = ConfigDict(json_schema_extra={"example": {"difficulty": 4}})

    title: Title | None = None
    description: Description | None = None
    category: CategorySlug | None = None
    difficulty: Difficulty | None = None
    tips: Tips | None = None


class AdminChallengeCreate(InputModel):
    """A catalog challenge. New ones start as `draft` unless you say otherwise."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "slug": "ask-librarian-for-a-book-recommendation",
                "title": "Ask a librarian to recommend a book",
                "description": "At the desk, ask: 'I liked this one; what would you suggest next?' "
                "If they are busy, ask when a better time would be, thank them and browse.",
                "category": "everyday",
                "difficulty": 2,
                "tips": ["They said no to the request, not to you."],
                "status": "draft",
            }
        }
    )

    slug: Slug
    title: Title
    description: Description
    category: CategorySlug
    difficulty: Difficulty
    tips: Tips = Field(default_factory=list)
    status: StatusField = ChallengeStatus.DRAFT


class AdminChallengeUpdate(ChallengeUpdate):
    """Fields to change; those left out keep their value. `{"status": "published"}` publishes."""

    model_config = ConfigDict(json_schema_extra={"example": {"status": "published"}})

    slug: Slug | None = None
    status: StatusField | None = None


class ChallengeImportItem(InputModel):
    """One challenge in an import, matched to the catalog by `slug`."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "slug": "ask-stranger-for-the-time",
                "title": "Ask a stranger for the time",
                "description": "At a bus stop, ask someone who does not look rushed: 'Excuse me, do you know "
                "the time?' If they shake their head, thank them and walk on.",
                "category": "everyday",
                "difficulty": 1,
                "tips": ["They said no to the request, not to you."],
            }
        }
    )

    slug: Slug
    title: Title
    description: Description
    category: CategorySlug
    difficulty: Difficulty
    tips: Tips = Field(default_factory=list)
    status: ChallengeStatus | None = Field(
        default=None,
        description="Left out: a new challenge is `published` and an existing one keeps its status "
        "(so re-importing never revives an archived challenge).",
    )


class ImportIssue(OutputModel):
    loc: list[str | int] = Field(description='The field in the item, e.g. `["difficulty"]`; empty for the item.')
    msg: str = Field(description="What is wrong, for a person.")
    type: str = Field(description="A stable code for the kind of problem.", examples=["less_than_equal"])


class ImportRejection(OutputModel):
    index: int = Field(description="The item's position in the list you sent, from 0.", examples=[4])
    slug: str | None = Field(description="The item's slug, when it had a readable one.")
    errors: list[ImportIssue] = Field(description="Why the item was not imported.")


class ImportResult(OutputModel):
    created: int = Field(description="Items that made a new challenge.", examples=[3])
    updated: int = Field(description="Items that changed an existing challenge.", examples=[1])
    unchanged: int = Field(description="Items identical to what is stored: nothing written.", examples=[116])
    rejected: list[ImportRejection] = Field(description="Items not imported, each with its reasons.")
