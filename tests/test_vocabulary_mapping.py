import pytest

from fashionseg.core.mapping import LabelMapping, MappingError, load_mapping, mapping_table
from fashionseg.core.vocabulary import BASE5, CCP59, FASHIONSEG11, IMATERIALIST46


def test_vocabularies_match_the_thesis_and_ccp():
    assert FASHIONSEG11.names == (
        "shirt, blouse",
        "top, t-shirt, sweatshirt",
        "sweater",
        "jacket",
        "pants",
        "skirt",
        "dress",
        "tie",
        "shoe",
        "bag, wallet",
        "umbrella",
    )
    assert FASHIONSEG11.ids == tuple(range(11))
    assert BASE5.names == ("top, t-shirt, sweatshirt", "jacket", "pants", "dress", "shoe")
    assert (
        len(IMATERIALIST46) == 46
        and IMATERIALIST46.name_of(0) == "shirt, blouse"
        and IMATERIALIST46.name_of(23) == "shoe"
    )
    supers = {c.supercategory for c in IMATERIALIST46.categories}
    assert len(supers) == 12  # Table 4
    assert len(CCP59) == 59 and CCP59.name_of(0) == "null" and CCP59.name_of(58) == "wedges"
    for c in FASHIONSEG11.categories:  # our classes keep iMaterialist's supercategories
        assert IMATERIALIST46.categories[IMATERIALIST46.id_of(c.name)].supercategory == c.supercategory


def test_builtin_mappings():
    ccp = load_mapping("ccp")
    assert set(ccp.rules) == set(CCP59.names)  # every CCP label has a decision
    assert ccp.classes_for("blouse") == ("shirt, blouse",)
    assert ccp.classes_for("sweatshirt") == ("top, t-shirt, sweatshirt",)
    assert all(ccp.classes_for(x) == ("pants",) for x in ("jeans", "leggings", "pants"))
    footwear = ("shoes", "boots", "heels", "sneakers", "flats", "pumps", "sandals", "loafers", "clogs", "wedges")
    assert all(ccp.classes_for(x) == ("shoe", "shoe") for x in footwear)
    assert all(ccp.classes_for(x) == ("bag, wallet",) for x in ("bag", "purse", "wallet"))
    assert ccp.classes_for("skin") == () and ccp.classes_for("null") == ()
    imat = load_mapping("imaterialist")
    assert {imat.classes_for(n)[0] for n in IMATERIALIST46.names if imat.classes_for(n)} == set(FASHIONSEG11.names)
    assert imat.classes_for("sleeve") == () and imat.classes_for("coat") == ()


def test_client_mapping_table_7():
    client = load_mapping("client")
    result = client.apply(["blouses", "shirt", "pant", "jean", "leggings", "shoes", "hat"])
    assert dict(result.counts) == {"top, t-shirt, sweatshirt": 1, "shirt, blouse": 1, "pants": 3, "shoe": 2}
    assert dict(result.dropped) == {"hat": 1}
    assert result.sources["pants"] == ["pant", "jean", "leggings"]


def test_mapping_files_and_errors(tmp_path):
    path = tmp_path / "m.yaml"
    load_mapping("client").with_rule("sandals", ["shoe", "shoe"]).with_rule("jean", []).save(path)
    again = load_mapping(path)
    assert again.classes_for("sandals") == ("shoe", "shoe") and again.classes_for("jean") == ()
    (tmp_path / "m.json").write_text('{"rules": {"tee": "top, t-shirt, sweatshirt"}}')
    assert load_mapping(tmp_path / "m.json").classes_for("tee") == ("top, t-shirt, sweatshirt",)
    with pytest.raises(MappingError, match="unknown class"):
        LabelMapping.from_dict({"rules": {"x": "cape"}})
    with pytest.raises(MappingError, match="must be a class name"):
        LabelMapping.from_dict({"rules": {"x": 3}})
    with pytest.raises(MappingError, match="no mapping file"):
        load_mapping(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("rules: [unclosed")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(tmp_path / "bad.yaml")
    rows = mapping_table(load_mapping("client"))
    assert {"label": "shoes", "maps to": "shoe", "objects per label": 2, "dropped": False} in rows


def test_cli_prints_vocabularies_and_mappings(run_cli):
    out = run_cli("vocab").stdout
    assert out.splitlines()[8].split() == ["8", "shoe", "(legs", "and", "feet)"]
    out = run_cli("mapping", "ccp").stdout
    assert any(line.split() == ["shoes", "->", "shoe", "+", "shoe"] for line in out.splitlines())
    r = run_cli("mapping", "nope.yaml")
    assert r.returncode == 2 and r.stderr.startswith("error: no mapping file")
