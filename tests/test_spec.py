"""Spec loading: expansion, identity, and every error with its exact text and position."""

from __future__ import annotations

import copy
import json
import random
import textwrap
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from seedrun.api_facts import MODEL
from seedrun.errors import SpecError
from seedrun.requests import last_frame_placeholder, task_id_placeholder
from seedrun.spec import FINAL_SUFFIX, Settings, Spec, load_spec, select


def load(text: str) -> Spec:
    return load_spec(textwrap.dedent(text), "spec.yaml")


def errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load(text)
    return [str(d) for d in info.value.diagnostics]


# ---------------------------------------------------------------- expansion


def test_precedence_defaults_then_job_then_matrix() -> None:
    spec = load(
        """\
        version: 1
        defaults: {duration: 5, ratio: "16:9", seed: 1, extra: {a: 1, b: 1}}
        jobs:
          - name: j
            prompt: p
            ratio: "1:1"
            seed: 2
            extra: {b: 2, c: 2}
            matrix:
              seed: [3]
              extra: [{c: 3}]
        """
    )
    [job] = spec.jobs
    assert job.params == {
        "duration": 5,
        "ratio": "1:1",
        "seed": 3,
        "extra": {"a": 1, "b": 2, "c": 3},
    }
    assert job.id == 'j[extra={"c":3},seed=3]'


def test_matrix_keys_set_parameters_or_template_variables() -> None:
    spec = load(
        """\
        version: 1
        vars: {brand: Lumen, look: plain}
        jobs:
          - name: spin
            prompt: >-
              {{ brand }} on {{ backdrop }}, {{ look }},
              {{ job.name }} #{{ job.index }} {{ job.id }}
            matrix:
              ratio: ["16:9", "9:16"]
              backdrop: [marble]
              include:
                - {ratio: "9:16", look: bold}
        """
    )
    assert [(j.id, j.params.get("ratio"), j.prompt, j.matrix) for j in spec.jobs] == [
        (
            "spin[backdrop=marble,ratio=16:9]",
            "16:9",
            "Lumen on marble, plain, spin #0 spin[backdrop=marble,ratio=16:9]",
            (("ratio", "16:9"), ("backdrop", "marble")),
        ),
        (
            "spin[backdrop=marble,look=bold,ratio=9:16]",
            "9:16",
            "Lumen on marble, bold, spin #1 spin[backdrop=marble,look=bold,ratio=9:16]",
            (("ratio", "9:16"), ("backdrop", "marble"), ("look", "bold")),
        ),
    ]
    assert "backdrop" not in spec.jobs[0].params


def test_job_records() -> None:
    spec = load(
        """\
        version: 1
        assets:
          bottle: {url: "https://cdn.example.com/bottle.png", moderate: true}
        jobs:
          - name: spin
            prompt: Use image 1.
            media: [{asset: bottle, role: reference_image}]
        settings: {max_in_flight: 3, requests_per_second: 2.5}
        outputs: {dir: videos}
        """
    )
    [job] = spec.jobs
    assert (job.id, job.name, job.index, job.kind, job.api, job.line, job.deps) == (
        "spin",
        "spin",
        0,
        "video",
        "official",
        5,
        (),
    )
    assert job.moderated_urls == ("https://cdn.example.com/bottle.png",)
    assert spec.settings == Settings(max_in_flight=3, requests_per_second=2.5)
    assert spec.outputs_dir == "videos"
    assert spec.job("spin") is job
    assert spec.by_id() == {"spin": job}
    assert spec.assets["bottle"].type == "image"


def test_integral_floats_are_integers() -> None:
    spec = load(
        """\
        version: 1
        defaults: {duration: 5.0}
        jobs:
          - name: j
            prompt: p
            matrix: {seed: [1.0, 2]}
        """
    )
    assert [j.id for j in spec.jobs] == ["j[seed=1]", "j[seed=2]"]
    assert [(j.body["duration"], j.body["seed"]) for j in spec.jobs] == [(5, 1), (5, 2)]
    assert isinstance(spec.jobs[0].body["duration"], int)


def test_chains_resolve_in_any_key_order_and_run_after_their_source() -> None:
    spec = load(
        """\
        version: 1
        jobs:
          - name: next
            prompt: Continue from image 1.
            media: [{from: "shot[look={{ look }},angle=low]", frame: last, role: first_frame}]
            matrix: {look: [dark]}
          - name: shot
            prompt: "{{ look }}"
            matrix: {angle: [low, high], look: [dark]}
        """
    )
    assert [j.id for j in spec.jobs] == [
        "shot[angle=low,look=dark]",
        "next[look=dark]",
        "shot[angle=high,look=dark]",
    ]
    source, chained, other = spec.jobs
    assert chained.deps == ("shot[angle=low,look=dark]",)
    assert source.params["return_last_frame"] is True
    assert source.body["return_last_frame"] is True
    assert "return_last_frame" not in other.params
    assert chained.body["content"][1] == {
        "type": "image_url",
        "image_url": {"url": last_frame_placeholder(source.id, source.key)},
        "role": "first_frame",
    }


def test_promote_adds_a_final_job_per_draft() -> None:
    spec = load(
        """\
        version: 1
        defaults: {draft: true, resolution: 480p}
        jobs:
          - name: look
            prompt: p
            matrix: {seed: [1, 2]}
        promote: ["look[seed=2]", "look*"]
        """
    )
    assert [(j.id, j.kind, j.deps) for j in spec.jobs] == [
        ("look[seed=1]", "draft", ()),
        ("look[seed=2]", "draft", ()),
        ("look[seed=1]#final", "final", ("look[seed=1]",)),
        ("look[seed=2]#final", "final", ("look[seed=2]",)),
    ]
    draft, final = spec.jobs[0], spec.jobs[2]
    assert final.id == draft.id + FINAL_SUFFIX
    assert final.params["draft"] is False
    assert final.body["content"] == [
        {"type": "draft_task", "draft_task": {"id": task_id_placeholder(draft.id, draft.key)}}
    ]
    assert spec.promote == ("look[seed=2]", "look*")


def test_select_pulls_in_dependencies() -> None:
    spec = load(
        """\
        version: 1
        jobs:
          - {name: a, prompt: p}
          - {name: b, prompt: p, media: [{from: a}]}
          - {name: c, prompt: p, media: [{from: b}]}
          - {name: d, prompt: p}
        """
    )
    assert [j.id for j in select(spec.jobs, ["c"])] == ["a", "b", "c"]
    assert [j.id for j in select(spec.jobs, ["?"])] == ["a", "b", "c", "d"]
    assert [j.id for j in select(spec.jobs, ["x*"])] == []


def test_globs_treat_brackets_literally() -> None:
    spec = load(
        """\
        version: 1
        jobs:
          - {name: spin, prompt: p, matrix: {look: [a, b]}}
        """
    )
    assert [j.id for j in select(spec.jobs, ["spin[look=a]"])] == ["spin[look=a]"]
    assert [j.id for j in select(spec.jobs, ["spin[*"])] == ["spin[look=a]", "spin[look=b]"]


def test_yaml_anchors_and_merge_keys() -> None:
    spec = load(
        """\
        version: 1
        jobs:
          - &base {name: z, prompt: p, ratio: "1:1"}
          - {<<: *base, name: a}
          - {<<: *base, name: b, ratio: "9:16"}
        """
    )
    assert [(j.id, j.params["ratio"]) for j in spec.jobs] == [
        ("z", "1:1"),
        ("a", "1:1"),
        ("b", "9:16"),
    ]


# ---------------------------------------------------------------- schema errors


def test_unknown_keys_suggest_the_closest_valid_key() -> None:
    assert errors(
        """\
        version: 1
        defaults:
          ration: "16:9"
        jobs:
          - name: spin
            promt: hi
            media:
              - {url: "https://x.example/a.png", rol: first_frame}
        settings: {max_in_flight: 2, rps: 3}
        jobz: []
        """
    ) == [
        "spec.yaml:3:3: defaults.ration: unknown key 'ration'; did you mean 'ratio'?",
        "spec.yaml:5:5: jobs[0]: missing required key 'prompt'",
        "spec.yaml:6:5: jobs[0].promt: unknown key 'promt'; did you mean 'prompt'?",
        "spec.yaml:8:42: jobs[0].media[0].rol: unknown key 'rol'; did you mean 'role'?",
        "spec.yaml:9:30: settings.rps: unknown key 'rps'; allowed: base_url, budget_tokens, "
        "max_download_bytes, max_in_flight, poll_min_interval, price_per_million_tokens, "
        "requests_per_second, task_timeout, uploads",
        "spec.yaml:10:1: jobz: unknown key 'jobz'; did you mean 'jobs'?",
    ]


def test_values_outside_what_is_allowed() -> None:
    assert errors(
        """\
        version: 1
        defaults:
          duration: 20
          ratio: "5:4"
          seed: 1.5
          api: openai
          watermark: "no"
        jobs:
          - name: my job
            prompt: ""
            ratio: ["16:9", "9:16"]
            seed: [1, 2]
            execution_expires_after: 60
        settings: {requests_per_second: 0}
        """
    ) == [
        "spec.yaml:3:13: defaults.duration: 20 is out of range; allowed: 2 to 15",
        'spec.yaml:4:10: defaults.ratio: "5:4" is not allowed; allowed: '
        '"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"',
        "spec.yaml:5:9: defaults.seed: must be an integer; got 1.5",
        'spec.yaml:6:8: defaults.api: "openai" is not allowed; allowed: "official", "unified"',
        'spec.yaml:7:14: defaults.watermark: must be true or false; got "no"',
        "spec.yaml:9:11: jobs[0].name: invalid name \"my job\"; use letters, digits, '_', '.' "
        "and '-', starting with a letter or digit",
        "spec.yaml:10:13: jobs[0].prompt: must not be empty",
        'spec.yaml:11:12: jobs[0].ratio: ["16:9", "9:16"] is not allowed; allowed: "16:9", '
        '"4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"; '
        "to try several values, list them under matrix:",
        "spec.yaml:12:11: jobs[0].seed: must be an integer; got [1, 2]; "
        "to try several values, list them under matrix:",
        "spec.yaml:13:30: jobs[0].execution_expires_after: 60 is out of range; "
        "allowed: 3600 to 259200",
        "spec.yaml:14:33: settings.requests_per_second: 0 is too small; allowed: more than 0",
    ]


def test_matrix_schema_errors() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - name: spin
            prompt: p
            matrix:
              ratio: ["16:9", "5:4"]
              api: [official, rest]
              look: []
              my-look: [a]
              seed: 3
        """
    ) == [
        'spec.yaml:6:23: jobs[0].matrix.ratio[1]: "5:4" is not allowed; allowed: '
        '"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"',
        'spec.yaml:7:23: jobs[0].matrix.api[1]: "rest" is not allowed; '
        'allowed: "official", "unified"',
        "spec.yaml:8:13: jobs[0].matrix.look: must not be empty; list at least one value",
        "spec.yaml:9:7: jobs[0].matrix.my-look: invalid name 'my-look'; use a template "
        "variable name: letters, digits and '_', not starting with a digit",
        "spec.yaml:10:13: jobs[0].matrix.seed: must be a list; got 3",
    ]


def test_top_level_shape_errors() -> None:
    assert errors("") == ["spec.yaml:1:1: the spec is empty; it needs `version: 1` and `jobs:`"]
    assert errors("- a\n") == ['spec.yaml:1:1: must be a mapping; got ["a"]']
    assert errors("version: 2\njobs: {}\n") == [
        "spec.yaml:1:10: version: unsupported spec version 2; this seedrun reads version 1",
        "spec.yaml:2:7: jobs: must be a list; got {}",
    ]
    assert errors("version: 1\n") == ["spec.yaml:1:1: missing required key 'jobs'"]
    assert errors("version: 1\njobs: []\n") == [
        "spec.yaml:2:7: jobs: must not be empty; list at least one value"
    ]


def test_names_of_assets_and_vars() -> None:
    assert errors(
        """\
        version: 1
        vars: {2nd: x}
        assets:
          "my bottle": {url: "https://x.example/a.png"}
        jobs: [{name: a, prompt: p}]
        """
    ) == [
        "spec.yaml:2:8: vars.2nd: invalid name '2nd'; use a template variable name: "
        "letters, digits and '_', not starting with a digit",
        "spec.yaml:4:3: assets.my bottle: invalid name 'my bottle'; "
        "use a name of letters, digits, '_', '.' or '-'",
    ]


def test_yaml_errors_come_through() -> None:
    assert errors("version: 1\njobs:\n  - name: a\n    name: b\n    prompt: p\n") == [
        "spec.yaml:4:5: jobs[0].name: duplicate key 'name' (first at line 3)"
    ]
    assert errors("version: 1\njobs: [\n") == [
        "spec.yaml:2:7: YAML syntax error: the '[' opened here is never closed "
        "(expected the node content, but found '<stream end>')"
    ]


# ---------------------------------------------------------------- templates


def test_undefined_variable_names_the_job_and_the_variable() -> None:
    assert errors(
        """\
        version: 1
        vars: {brand: Lumen}
        jobs:
          - name: spin
            prompt: "{{ brand }} on {{ backdrop }}"
            matrix: {look: [a, b]}
            media:
              - url: "https://x.example/{{ colour }}.png"
        """
    ) == [
        "spec.yaml:5:13: jobs[0].prompt: job spin[look=a]: undefined template variable "
        "'backdrop'; defined: brand, job, look",
        "spec.yaml:8:14: jobs[0].media[0].url: job spin[look=a]: undefined template variable "
        "'colour'; defined: brand, job, look",
    ]


def test_sandbox_escape_is_a_spec_error() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - name: evil
            prompt: "{{ ''.__class__.__mro__[1].__subclasses__() }}"
        """
    ) == [
        "spec.yaml:4:13: jobs[0].prompt: job evil: template refused by the sandbox: "
        "access to attribute '__class__' of 'str' object is unsafe."
    ]


def test_reserved_job_variable() -> None:
    assert errors(
        """\
        version: 1
        vars: {job: x}
        jobs:
          - name: a
            prompt: p
            matrix:
              job: [1]
              include: [{job: 2}]
        """
    ) == [
        "spec.yaml:2:8: vars.job: 'job' is reserved: templates see the job as job.name, "
        "job.index and job.id; pick another name",
        "spec.yaml:7:7: jobs[0].matrix.job: 'job' is reserved: templates see the job as "
        "job.name, job.index and job.id; pick another name",
        "spec.yaml:8:18: jobs[0].matrix.include[0].job: 'job' is reserved: templates see the "
        "job as job.name, job.index and job.id; pick another name",
    ]


# ---------------------------------------------------------------- media


def test_media_url_errors_say_why() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - name: m
            prompt: p
            media:
              - url: "data:image/png;base64,iVBORw0KGgo="
              - url: ./frames/a.png
              - url: file:///tmp/a.png
              - url: https://x.example/photo
                type: image
              - url: https://x.example/blob
              - {url: https://x.example/a.svg, type: image}
        """
    ) == [
        "spec.yaml:6:14: jobs[0].media[0].url: job m: data: URIs are not supported: the API "
        "accepts no base64 or inline binary; upload the file and use its public http(s) URL",
        "spec.yaml:7:14: jobs[0].media[1].url: job m: './frames/a.png' is not a public "
        "http(s):// or asset:// URL; local paths are not supported: the API fetches media by URL",
        "spec.yaml:8:14: jobs[0].media[2].url: job m: 'file:///tmp/a.png' is not a public "
        "http(s):// or asset:// URL; local paths are not supported: the API fetches media by URL",
        "spec.yaml:9:14: jobs[0].media[3].url: job m: image URL 'https://x.example/photo' needs "
        "one of the extensions .jpeg .jpg .png .webp .bmp .tiff .tif .gif .heic .heif",
        "spec.yaml:11:14: jobs[0].media[4].url: job m: cannot infer the media type of "
        "'https://x.example/blob' from its extension; set type: image, video or audio",
        "spec.yaml:12:15: jobs[0].media[5].url: job m: image URL 'https://x.example/a.svg' needs "
        "one of the extensions .jpeg .jpg .png .webp .bmp .tiff .tif .gif .heic .heif",
    ]


def test_asset_errors() -> None:
    assert errors(
        """\
        version: 1
        assets:
          bottle: {url: "https://x.example/bottle.png"}
          clip: {url: "https://x.example/clip.mp4", moderate: true}
          done: {url: "asset://asset-1234", moderate: true}
          local: {url: bottle.png}
        jobs:
          - name: m
            prompt: p
            media:
              - {asset: bottel}
              - {asset: zzz}
        """
    ) == [
        "spec.yaml:4:45: assets.clip.moderate: only images can be moderated, "
        "and this asset is a video",
        "spec.yaml:5:37: assets.done.moderate: an asset:// URL is already approved; "
        "moderation needs the public http(s) URL of the image",
        "spec.yaml:6:16: assets.local.url: 'bottle.png' is not a public http(s):// or asset:// "
        "URL; local paths are not supported: the API fetches media by URL",
        "spec.yaml:11:17: jobs[0].media[0].asset: unknown asset 'bottel'; did you mean 'bottle'?",
        "spec.yaml:12:17: jobs[0].media[1].asset: unknown asset 'zzz'; "
        "defined: bottle, clip, done, local",
    ]
    assert errors(
        """\
        version: 1
        jobs: [{name: m, prompt: p, media: [{asset: x}]}]
        """
    ) == ["spec.yaml:2:45: jobs[0].media[0].asset: unknown asset 'x'; no assets are defined"]


def test_media_item_shape_errors() -> None:
    assert errors(
        """\
        version: 1
        assets: {a: {url: "https://x.example/a.png"}}
        jobs:
          - name: m
            prompt: p
            media:
              - {asset: a, url: "https://x.example/b.png"}
              - {role: first_frame}
              - {url: "https://x.example/b.png", frame: last}
          - name: n
            prompt: p
            media:
              - {from: m, type: video}
        """
    ) == [
        "spec.yaml:7:9: jobs[0].media[0]: a media item needs exactly one of asset, url, file "
        "or from; got asset, url",
        "spec.yaml:8:9: jobs[0].media[1]: a media item needs exactly one of asset, url, file "
        "or from",
        "spec.yaml:9:42: jobs[0].media[2].frame: frame: is only valid with from:",
        "spec.yaml:13:19: jobs[1].media[0].type: a chained frame is an image, not a video; "
        "drop type:",
    ]


# ---------------------------------------------------------------- lints


def test_prompt_refers_to_media_it_does_not_have() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - name: m
            prompt: Move image 1 like video 1 to audio 2, unlike Image 3 or image 0.
            media:
              - {url: "https://x.example/a.png"}
              - {url: "https://x.example/a.mp4"}
        """
    ) == [
        "spec.yaml:4:13: jobs[0].prompt: job m: the prompt refers to audio 2, "
        "but the job has 0 audio items",
        "spec.yaml:4:13: jobs[0].prompt: job m: the prompt refers to image 3, "
        "but the job has 1 image item",
        "spec.yaml:4:13: jobs[0].prompt: job m: the prompt refers to image 0, "
        "but the job has 1 image item",
    ]


def test_prompt_contains_an_asset_id() -> None:
    message = (
        'the prompt contains an asset ID; refer to media as "image 1", "video 1" '
        'or "audio 1" instead'
    )
    assert errors(
        """\
        version: 1
        assets: {hero: {url: "asset://asset-20240101-hero"}}
        jobs:
          - {name: a, prompt: "Use asset://asset-20240101-hero here"}
          - {name: b, prompt: "Use asset-20240101-hero here"}
          - name: c
            prompt: "Use img-7 here"
            media: [{url: "asset://img-7"}]
          - {name: d, prompt: "Use asset-20240101-heroic and img-7x here"}
        """
    ) == [
        f"spec.yaml:4:23: jobs[0].prompt: job a: {message}",
        f"spec.yaml:5:23: jobs[1].prompt: job b: {message}",
        f"spec.yaml:7:13: jobs[2].prompt: job c: {message}",
    ]


def test_frame_roles() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - name: last-only
            prompt: p
            media: [{url: "https://x.example/b.png", role: last_frame}]
          - name: two-first
            prompt: p
            media:
              - {url: "https://x.example/a.png", role: first_frame}
              - {url: "https://x.example/b.png", role: first_frame}
          - name: two-last
            prompt: p
            media:
              - {url: "https://x.example/a.png", role: first_frame}
              - {url: "https://x.example/b.png", role: last_frame}
              - {url: "https://x.example/c.png", role: last_frame}
          - name: wrong-type
            prompt: p
            media:
              - {url: "https://x.example/a.mp4", role: reference_image}
              - {url: "https://x.example/a.png", role: reference_audio}
        """
    ) == [
        "spec.yaml:5:52: jobs[0].media[0].role: job last-only: "
        "last_frame needs a first_frame item too",
        "spec.yaml:10:48: jobs[1].media[1].role: job two-first: "
        "two first_frame items; a job has at most one",
        "spec.yaml:16:48: jobs[2].media[2].role: job two-last: "
        "two last_frame items; a job has at most one",
        "spec.yaml:20:48: jobs[3].media[0].role: job wrong-type: "
        "role reference_image is for image items, but this item is a video",
        "spec.yaml:21:48: jobs[3].media[1].role: job wrong-type: "
        "role reference_audio is for audio items, but this item is an image",
    ]


def test_chain_sources() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - name: shot
            prompt: p
            matrix:
              look: [dark, light]
              exclude: [{look: dark}]
          - name: next
            prompt: p
            media:
              - {from: "shot[look=dark]"}
              - {from: "shot[look=dim]"}
              - {from: shto}
              - {from: nowhere}
        """
    ) == [
        "spec.yaml:11:16: jobs[1].media[0].from: job next: source 'shot[look=dark]' "
        "is excluded by the matrix of job 'shot'",
        "spec.yaml:12:16: jobs[1].media[1].from: job next: source 'shot[look=dim]' "
        "is not a job of this spec; shot makes: shot[look=light]",
        "spec.yaml:13:16: jobs[1].media[2].from: job next: unknown source job 'shto'; "
        "did you mean 'shot'?",
        "spec.yaml:14:16: jobs[1].media[3].from: job next: unknown source job 'nowhere'; "
        "job names: next, shot",
    ]


def test_dependency_cycles_name_every_job_with_its_line() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - name: a
            prompt: p
            media: [{from: c}]
          - name: b
            prompt: p
            media: [{from: a}]
          - name: c
            prompt: p
            media: [{from: b}]
          - name: self
            prompt: p
            media: [{from: "{{ job.id }}"}]
        """
    ) == [
        "spec.yaml:3:5: jobs[0]: dependency cycle: a (line 3) -> c (line 9) -> b (line 6) -> a",
        "spec.yaml:12:5: jobs[3]: dependency cycle: self (line 12) -> self",
    ]


def test_promote_lints() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - {name: draft, prompt: p, draft: true}
          - {name: video, prompt: p, matrix: {seed: [1, 2]}}
        promote: [nothing, "*"]
        """
    ) == [
        "spec.yaml:5:11: promote[0]: 'nothing' matches no job; "
        "job ids are like: draft, video[seed=1], video[seed=2]",
        "spec.yaml:5:20: promote[1]: '*' matches video[seed=1] and 1 more, which is not a "
        "draft; set draft: true on it, or narrow the pattern",
    ]


def test_extra_may_not_shadow_modelled_fields() -> None:
    assert errors(
        """\
        version: 1
        defaults:
          extra: {seed: 1, content: []}
        jobs:
          - name: a
            prompt: p
            extra: {prompt: x, my_flag: true}
            matrix:
              extra: [{duration: 4}]
              include: [{extra: {metadata: {}}}]
        """
    ) == [
        "spec.yaml:3:11: defaults.extra.seed: extra field 'seed' shadows a modelled field; "
        "set seed directly",
        "spec.yaml:3:20: defaults.extra.content: extra field 'content' shadows a modelled "
        "field; set content directly",
        "spec.yaml:7:13: jobs[0].extra.prompt: extra field 'prompt' shadows a modelled field; "
        "set prompt directly",
        "spec.yaml:9:16: jobs[0].matrix.extra[0].duration: extra field 'duration' shadows a "
        "modelled field; set duration directly",
        "spec.yaml:10:26: jobs[0].matrix.include[0].extra.metadata: extra field 'metadata' "
        "shadows a modelled field; set metadata directly",
    ]


def test_duplicate_ids() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - {name: a, prompt: p}
          - {name: b, prompt: p, matrix: {include: [{x: 1}, {x: 1}]}}
          - {name: a, prompt: q}
        """
    ) == [
        "spec.yaml:4:5: jobs[1]: duplicate job id 'b[x=1]' (also made by the job at line 4); "
        "give the jobs different names or matrix values",
        "spec.yaml:5:5: jobs[2]: duplicate job id 'a' (also made by the job at line 3); "
        "give the jobs different names or matrix values",
    ]


def test_matrix_lints() -> None:
    assert errors(
        """\
        version: 1
        jobs:
          - name: a
            prompt: "{{ look }}"
            matrix:
              look: [x]
              exclude: [{look: x}]
          - name: b
            prompt: "{{ look }} {{ seeds }}"
            matrix:
              look: [x]
              ration: ["1:1"]
              seeds: [1]
              includes: [{look: y}]
              exclude: [{lok: x}]
        """
    ) == [
        "spec.yaml:5:5: jobs[0].matrix: the matrix leaves no combination after exclude",
        "spec.yaml:12:7: jobs[1].matrix.ration: unknown key 'ration'; did you mean 'ratio'? "
        "(a matrix key that is not a request parameter is a template variable, and no "
        "template uses ration)",
        "spec.yaml:14:7: jobs[1].matrix.includes: unknown key 'includes'; did you mean 'include'?",
        "spec.yaml:15:18: jobs[1].matrix.exclude[0].lok: exclude names 'lok', which is not a "
        "matrix axis; axes: look, ration, seeds, includes",
    ]
    assert errors(
        """\
        version: 1
        jobs: [{name: a, prompt: p, matrix: {}}]
        """
    ) == [
        "spec.yaml:2:29: jobs[0].matrix: the matrix has no combination; "
        "give it an axis or an include entry"
    ]


def test_all_errors_are_reported_at_once() -> None:
    """A schema error stops only its own job: the lints of the others still show."""
    assert errors(
        """\
        version: 1
        jobs:
          - name: a
            prompt: p
            duration: 99
          - name: b
            prompt: "{{ nope }}"
          - name: c
            prompt: image 1
          - name: d
            prompt: p
            media: [{from: a}]
        promote: [zzz]
        """
    ) == [
        "spec.yaml:5:15: jobs[0].duration: 99 is out of range; allowed: 2 to 15",
        "spec.yaml:7:13: jobs[1].prompt: job b: undefined template variable 'nope'; defined: job",
        "spec.yaml:9:13: jobs[2].prompt: job c: the prompt refers to image 1, "
        "but the job has 0 image items",
    ]


def test_spec_error_text_is_one_line_per_problem() -> None:
    with pytest.raises(SpecError) as info:
        load("version: 1\njobs: [{name: a}]\nzzz: 1\n")
    assert str(info.value) == (
        "spec.yaml:2:8: jobs[0]: missing required key 'prompt'\n"
        "spec.yaml:3:1: zzz: unknown key 'zzz'; allowed: assets, defaults, jobs, outputs, "
        "promote, settings, vars, version"
    )


# ---------------------------------------------------------------- identity (property tests)

_RATIOS = ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"]
_PARAM_VALUES: dict[str, list[Any]] = {
    "model": ["doubao-seedance-2.0", "doubao-seedance-1.0"],
    "api": ["official", "unified"],
    "duration": [2, 5, 15],
    "ratio": _RATIOS,
    "resolution": ["480p", "720p", "1080p"],
    "seed": [-1, 0, 7, 4294967295],
    "camera_fixed": [True, False],
    "watermark": [True, False],
    "generate_audio": [True, False],
    "service_tier": ["default", "flex"],
    "execution_expires_after": [3600, 172800],
    "return_last_frame": [True, False],
}
_json_leaf = st.one_of(st.integers(-5, 5), st.booleans(), st.text("abc", max_size=3))
_extra = st.dictionaries(
    st.sampled_from(["x_flag", "y_note", "z_opts"]),
    st.one_of(_json_leaf, st.dictionaries(st.sampled_from(["p", "q", "r"]), _json_leaf)),
    max_size=3,
)


@st.composite
def _params(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(sorted(_PARAM_VALUES)), unique=True, max_size=5))
    out = {k: draw(st.sampled_from(_PARAM_VALUES[k])) for k in keys}
    if draw(st.booleans()):
        out["extra"] = draw(_extra)
    return out


@st.composite
def _matrix(draw: st.DrawFn) -> dict[str, Any]:
    axes = {
        "look": st.lists(st.sampled_from(["dark", "light", "dim"]), min_size=1, unique=True),
        "ratio": st.lists(st.sampled_from(_RATIOS), min_size=1, max_size=3, unique=True),
        "seed": st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True),
        "take": st.lists(st.integers(1, 3), min_size=1, max_size=2, unique=True),
    }
    names = draw(st.lists(st.sampled_from(sorted(axes)), min_size=1, max_size=3, unique=True))
    matrix: dict[str, Any] = {name: draw(axes[name]) for name in names}
    if draw(st.booleans()):
        matrix["include"] = draw(
            st.lists(
                st.dictionaries(
                    st.sampled_from(["look", "note", "seed"]),
                    st.sampled_from(["dark", "x", "y"]),
                    min_size=1,
                ).map(lambda d: {k: (3 if k == "seed" else v) for k, v in d.items()}),
                max_size=2,
                unique_by=lambda d: json.dumps(d, sort_keys=True),
            )
        )
    if draw(st.booleans()):
        first = names[0]
        matrix["exclude"] = [{first: matrix[first][0]}]
    return matrix


@st.composite
def _media(draw: st.DrawFn, earlier: list[str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["url", "asset", "from"] if earlier else ["url", "asset"]))
        if kind == "url":
            ext = draw(st.sampled_from(["png", "jpg", "mp4", "mp3"]))
            item: dict[str, Any] = {"url": f"https://cdn.example.com/{{{{ job.name }}}}.{ext}"}
        elif kind == "asset":
            item = {"asset": draw(st.sampled_from(["bottle", "label"]))}
        else:
            item = {"from": draw(st.sampled_from(earlier)), "frame": "last"}
        if kind != "url" or item["url"].endswith(("png", "jpg")):
            role = draw(st.sampled_from([None, "reference_image"]))
            if role:
                item["role"] = role
        items.append(item)
    return items


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    jobs: list[dict[str, Any]] = []
    plain: list[str] = []  # jobs without a matrix: chain sources by name
    for i in range(draw(st.integers(1, 3))):
        name = f"job{i}"
        job: dict[str, Any] = {
            "name": name,
            "prompt": "{{ brand }} {{ look|default('-') }} {{ job.id }}",
            **draw(_params()),
        }
        media = draw(_media(plain))
        if media:
            job["media"] = media
        if draw(st.booleans()):
            job["matrix"] = draw(_matrix())
        else:
            plain.append(name)
        jobs.append(job)
    return {
        "version": 1,
        "defaults": draw(_params()),
        "vars": {"brand": "Lumen", "unused": {"a": 1, "b": [1, 2]}},
        "assets": {
            "bottle": {"url": "https://cdn.example.com/bottle.png", "moderate": True},
            "label": {"url": "https://cdn.example.com/label.webp", "type": "image"},
        },
        "jobs": jobs,
        "settings": {"max_in_flight": 2, "requests_per_second": 1.5},
    }


def _shuffled(value: Any, rnd: random.Random) -> Any:
    """The same data with the keys of every mapping, at every level, in a random order."""
    if isinstance(value, dict):
        keys = list(value)
        rnd.shuffle(keys)
        return {k: _shuffled(value[k], rnd) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


def _identities(data: dict[str, Any]) -> dict[str, str] | None:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    try:
        spec = load_spec(text, "spec.yaml")
    except SpecError:
        return None
    return {j.id: j.key for j in spec.jobs}


@settings(max_examples=100, deadline=None)
@given(specs(), st.randoms(use_true_random=False))
def test_key_order_never_changes_ids_or_keys(data: dict[str, Any], rnd: random.Random) -> None:
    original = _identities(data)
    assume(original is not None)
    assert _identities(_shuffled(data, rnd)) == original


_DELETE = object()


def _mutations(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every single change to one request field of the first job, as (label, new data)."""
    job = data["jobs"][0]
    edits: list[tuple[tuple[str | int, ...], Any]] = [(("prompt",), job["prompt"] + "!")]
    chained_from = {m.get("from") for j in data["jobs"] for m in j.get("media", [])}
    for param, values in _PARAM_VALUES.items():
        if param == "return_last_frame" and job["name"] in chained_from:
            continue  # a chain source always asks for its last frame
        builtin = {"model": MODEL, "api": "official"}.get(param)
        current = job.get(param, data["defaults"].get(param, builtin))
        other = [v for v in values if v != current or type(v) is not type(current)]
        edits.append(((param,), other[0]))
    edits.append((("extra",), {**job.get("extra", {}), "new_field": 1}))
    for m, item in enumerate(job.get("media", [])):
        if "url" in item:
            edits.append((("media", m, "url"), item["url"].replace("cdn.", "cdn2.")))
        if "asset" in item:
            edits.append(
                (("media", m, "asset"), "label" if item["asset"] == "bottle" else "bottle")
            )
        if not item.get("url", "").endswith(("mp4", "mp3")):  # an image: roles apply
            edits.append((("media", m, "role"), _DELETE if "role" in item else "reference_image"))
    out = []
    for path, value in edits:
        new = copy.deepcopy(data)
        target = new["jobs"][0]
        for part in path[:-1]:
            target = target[part]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        out.append((".".join(map(str, path)), new))
    return out


@settings(max_examples=60, deadline=None)
@given(specs())
def test_changing_any_request_field_changes_the_key(data: dict[str, Any]) -> None:
    for job in data["jobs"]:
        job.pop("matrix", None)  # one id per job; matrices are covered above
    before = _identities(data)
    assume(before is not None)
    assert before is not None
    for label, new in _mutations(data):
        after = _identities(new)
        if after is None:
            continue  # the change made the spec invalid (e.g. a lint): nothing to compare
        assert after["job0"] != before["job0"], label
