"""The shipped Hubei region tree and the synthetic town generator (no database)."""

from collections import Counter

import pytest

from ducha.tenants.regions_data import (
    RegionRow,
    load_hubei,
    region_path,
    synthetic_towns,
)

PROVINCE = "420000"
DIRECT_COUNTY_UNITS = {"429004": "仙桃市", "429005": "潜江市", "429006": "天门市", "429021": "神农架林区"}


@pytest.fixture(scope="module")
def rows() -> list[RegionRow]:
    return load_hubei()


@pytest.fixture(scope="module")
def by_code(rows) -> dict[str, RegionRow]:
    return {r.code: r for r in rows}


def children_of(rows, code):
    return [r for r in rows if r.parent_code == code]


def test_exactly_one_province(rows):
    provinces = [r for r in rows if r.level == "province"]
    assert provinces == [RegionRow(PROVINCE, "湖北省", "province", None)]
    assert [r for r in rows if r.parent_code is None] == provinces


def test_first_tier_has_17_units(rows):
    tier = children_of(rows, PROVINCE)
    assert len(tier) == 17
    assert Counter(r.level for r in tier) == {"city": 13, "county": 4}
    assert {r.code: r.name for r in tier if r.level == "county"} == DIRECT_COUNTY_UNITS
    names = {r.code: r.name for r in tier}
    assert names["420100"] == "武汉市"
    assert names["422800"] == "恩施土家族苗族自治州"
    assert "420400" not in names  # no 420400 in Hubei


def test_103_county_level_units(rows):
    counties = [r for r in rows if r.level == "county"]
    assert len(counties) == 103
    per_city = Counter(r.parent_code for r in counties)
    assert per_city == {
        "420100": 13, "420200": 6, "420300": 8, "420500": 13, "420600": 9, "420700": 3,
        "420800": 5, "420900": 7, "421000": 8, "421100": 10, "421200": 6, "421300": 3,
        "422800": 8, PROVINCE: 4,
    }


def test_named_counties(by_code):
    xianning = {
        "421202": "咸安区", "421221": "嘉鱼县", "421222": "通城县",
        "421223": "崇阳县", "421224": "通山县", "421281": "赤壁市",
    }
    shiyan = {
        "420302": "茅箭区", "420303": "张湾区", "420304": "郧阳区", "420322": "郧西县",
        "420323": "竹山县", "420324": "竹溪县", "420325": "房县", "420381": "丹江口市",
    }
    for parent, expected in (("421200", xianning), ("420300", shiyan)):
        for code, name in expected.items():
            assert by_code[code].name == name
            assert by_code[code].parent_code == parent
    assert by_code["421088"].name == "监利市"
    assert by_code["420882"].name == "京山市"


def test_codes_unique_and_well_formed(rows):
    codes = [r.code for r in rows]
    assert len(codes) == len(set(codes))
    for r in rows:
        assert r.code.isdigit()
        assert len(r.code) == (9 if r.level == "town" else 6), r


def test_parents_exist_and_prefixes_match(rows, by_code):
    for r in rows:
        if r.level == "province":
            assert r.parent_code is None
            continue
        parent = by_code[r.parent_code]
        if r.level == "city":
            assert parent.level == "province"
            assert r.code[:2] == parent.code[:2]
        elif r.level == "county":
            if parent.level == "province":
                assert r.code in DIRECT_COUNTY_UNITS
                assert r.code[:2] == parent.code[:2]
            else:
                assert parent.level == "city"
                assert r.code[:4] == parent.code[:4]
        else:
            assert r.level == "town"
            assert parent.level == "county"
            assert r.code[:6] == parent.code


def test_breadth_first_order(rows):
    assert rows[0].code == PROVINCE
    position = {r.code: i for i, r in enumerate(rows)}
    for r in rows[1:]:
        assert position[r.parent_code] < position[r.code]
    # breadth-first: the distance from the root never decreases along the list
    dist = {}
    for r in rows:
        dist[r.code] = 0 if r.parent_code is None else dist[r.parent_code] + 1
    assert [dist[r.code] for r in rows] == sorted(dist.values())
    assert max(dist.values()) == 3


def test_jiayu_towns(rows):
    towns = children_of(rows, "421221")
    assert len(towns) == 8
    assert all(t.level == "town" for t in towns)
    names = {t.name for t in towns}
    assert names == {"鱼岳镇", "新街镇", "渡普镇", "潘家湾镇", "陆溪镇", "高铁岭镇", "官桥镇", "簰洲湾镇"}
    assert "新街镇" in names


def test_yunxi_towns(rows):
    towns = children_of(rows, "420322")
    assert len(towns) == 16
    names = {t.name for t in towns}
    assert {"城关镇", "上津镇", "马鞍镇", "湖北口回族乡", "安家乡"} <= names
    assert all(t.code.startswith("420322") for t in towns)


def test_only_two_counties_have_real_towns(rows):
    assert {r.parent_code for r in rows if r.level == "town"} == {"421221", "420322"}


def test_region_path(by_code):
    assert region_path(by_code["421221101"], by_code) == "420000/421200/421221/421221101"
    assert region_path(by_code["429004"], by_code) == "420000/429004"
    assert region_path(by_code["420000"], by_code) == "420000"
    assert region_path(by_code["421200"], by_code) == "420000/421200"


def test_region_path_unknown_parent(by_code):
    orphan = RegionRow("421299100", "x", "town", "421299")
    with pytest.raises(KeyError):
        region_path(orphan, by_code)


def test_synthetic_towns_scale_and_shape(rows, by_code):
    synth = synthetic_towns(rows)
    assert len(synth) == 101 * 13
    assert len(synth) >= 1300
    codes = [t.code for t in synth]
    assert len(codes) == len(set(codes))
    assert not set(codes) & set(by_code)
    per_county = Counter(t.parent_code for t in synth)
    assert set(per_county.values()) == {13}
    assert "421221" not in per_county and "420322" not in per_county
    for t in synth:
        county = by_code[t.parent_code]
        assert county.level == "county"
        assert t.level == "town"
        assert len(t.code) == 9 and t.code[:6] == county.code
        assert 100 <= int(t.code[6:]) <= 999
    first = [t for t in synth if t.parent_code == "421222"]
    assert first[0].code == "421222100"
    assert [t.name for t in first][:3] == ["通城第1镇", "通城第2镇", "通城第3镇"]
    assert {t.name for t in synth if t.parent_code == "429021"} >= {"神农架第1镇"}
    assert {t.name for t in synth if t.parent_code == "420528"} >= {"长阳第1镇"}


def test_synthetic_towns_paths(rows, by_code):
    synth = synthetic_towns(rows)
    full = dict(by_code) | {t.code: t for t in synth}
    t = next(t for t in synth if t.parent_code == "429004")
    assert region_path(t, full) == f"420000/429004/{t.code}"
    t = next(t for t in synth if t.parent_code == "421222")
    assert region_path(t, full) == f"420000/421200/421222/{t.code}"


def test_synthetic_towns_deterministic(rows):
    assert synthetic_towns(rows) == synthetic_towns(rows)
    assert synthetic_towns(rows, seed=7) == synthetic_towns(rows, seed=7)
    assert synthetic_towns(rows, seed=7) != synthetic_towns(rows, seed=8)


def test_synthetic_towns_skip_counties_with_real_towns():
    tongcheng = RegionRow("421222", "通城县", "county", "421200")
    real = RegionRow("421222101", "隽水镇", "town", "421222")
    chongyang = RegionRow("421223", "崇阳县", "county", "421200")
    synth = synthetic_towns([tongcheng, real, chongyang], per_county=3)
    assert {t.parent_code for t in synth} == {"421223"}


def test_synthetic_towns_never_reuse_an_existing_code():
    chongyang = RegionRow("421223", "崇阳县", "county", "421200")
    # a code in the county's range that is already taken (here by a row filed elsewhere)
    taken = RegionRow("421223100", "已占用", "town", "421222")
    synth = synthetic_towns([chongyang, taken], per_county=5, seed=1)
    codes = [t.code for t in synth]
    assert len(codes) == 5 and "421223100" not in codes
    assert codes[0] == "421223101"


def test_synthetic_plus_real_regions(rows):
    # per_county=13 (the default) gives 1,313 synthetic towns -> 1,454 regions in all;
    # per_county=14 is the smallest value that reaches 1,500 regions.
    assert len(rows) + len(synthetic_towns(rows)) == 141 + 1313
    assert len(rows) + len(synthetic_towns(rows, per_county=14)) >= 1500
