"""The built-in sample world: a seeded, synthetic online shop with planted structure.

`generate_sample` builds a small e-commerce world that behaves like a real one rather than
uniform noise: a bilingual (Chinese and English) catalogue over a three-level category tree,
procedurally drawn product images with a visual signature per leaf category, users whose
interests drift over a 60-day window, and sessions of searches, ranked impressions, clicks,
add-to-carts and purchases with position bias and long-tailed popularity. The generator's
hidden state (the intended category of every search, every user's interests) comes back as
ground truth, so models trained on the sample can be checked against what was planted.
`write_sample` writes the world as files in the input data contract (DESIGN.md §2).

Only NumPy, pandas and Pillow are used, and every draw comes from
`numpy.random.default_rng(seed)`: the same seed and scale give the same world, and the
same files byte for byte.
"""

from __future__ import annotations

import functools
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from PIL import Image

from mtrec_tf.config import SAMPLE_EVENT_TYPE_SETS
from mtrec_tf.data.sample_events import with_extended_events
from mtrec_tf.data.schema import CATEGORY_SEPARATOR, EVENT_TYPES
from mtrec_tf.errors import check_choice

START_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z
WINDOW_DAYS = 60
IMAGE_SIZE = 64
FORMATS: tuple[str, ...] = ("parquet", "csv", "jsonl")

_WINDOW_SECONDS = WINDOW_DAYS * 86_400
_ITEMS_PER_SCALE = 1_200
_USERS_PER_SCALE = 1_000
_LABELLED_QUERIES_PER_SCALE = 300
_MEAN_SESSIONS = 8.0
_MAX_SESSIONS = 40
_SESSION_GAP = 1_800  # seconds between the starts of one user's sessions, at least
_SEARCH_SHARE = 0.7
_CANDIDATES = 20  # impression candidates drawn per session before de-duplication
_ZIPF_WITHIN = 1.1  # popularity exponent over items within a leaf
_ZIPF_ACROSS = 1.0  # popularity exponent over leaves
_CLICK_SCALE = 0.34
_POSITION_EXPONENT = 0.7

_ITEM_ID, _USER_ID, _SESSION_ID = ("i", 6), ("u", 5), ("s", 7)  # prefix, minimum digits
_EVENT_CODES = {name: code for code, name in enumerate(EVENT_TYPES)}


class _Leaf(NamedTuple):
    department: str
    group: str
    name: str
    zh: tuple[str, ...]
    en: tuple[str, ...]
    brands: tuple[str, ...]
    price: float  # median price (CNY)


# Words of a middle category, shared by its leaves.
_GROUP_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Mobile": (("数码", "蓝牙", "充电"), ("mobile", "charger", "bluetooth")),
    "Computers": (("电脑", "办公", "键盘"), ("computer", "office", "keyboard")),
    "Kitchen": (("厨房", "家用", "不锈钢", "刀具"), ("kitchen", "stainless", "knife")),
    "Living": (("家居", "卧室", "客厅"), ("home", "bedroom", "living")),
    "Skincare": (("护肤", "敏感肌", "温和"), ("skincare", "face", "sensitive")),
    "Makeup": (("彩妆", "持久", "化妆"), ("makeup", "lasting", "beauty")),
    "Running": (("跑步", "运动", "马拉松"), ("running", "sport", "marathon")),
    "Outdoor": (("户外", "装备", "防水"), ("outdoor", "gear", "waterproof")),
    "Literature": (("书", "图书", "精装"), ("book", "hardcover", "classic")),
    "Education": (("教材", "学习", "入门"), ("textbook", "learning", "beginner")),
    "Snacks": (("零食", "休闲零食", "礼盒"), ("snack", "snacks", "gift")),
    "Drinks": (("饮品", "冲泡", "提神"), ("drink", "brew", "organic")),
    "Clothing": (("服装", "时尚", "修身"), ("fashion", "slim", "clothing")),
    "Footwear": (("鞋", "鞋子", "百搭", "运动鞋"), ("shoes", "footwear", "sneakers")),
}

_LEAVES: tuple[_Leaf, ...] = (
    _Leaf("Electronics", "Mobile", "Phones", ("手机", "智能手机", "屏幕", "拍照", "快充", "全面屏"),
          ("phone", "smartphone", "5G", "camera", "screen"),
          ("Huawei", "Xiaomi", "Apple", "OPPO", "vivo", "Honor"), 2999.0),
    _Leaf("Electronics", "Mobile", "Headphones", ("耳机", "蓝牙耳机", "降噪", "无线", "头戴式", "音质"),
          ("headphones", "earbuds", "wireless", "ANC", "bluetooth"),
          ("Sony", "Bose", "Apple", "Huawei", "JBL", "Edifier"), 399.0),
    _Leaf("Electronics", "Computers", "Laptops", ("笔记本", "笔记本电脑", "轻薄本", "游戏本", "处理器", "内存"),
          ("laptop", "notebook", "ultrabook", "gaming", "SSD"),
          ("Lenovo", "Dell", "HP", "Apple", "ASUS", "Huawei"), 5999.0),
    _Leaf("Electronics", "Computers", "Tablets", ("平板", "平板电脑", "屏幕", "学习机", "手写笔"),
          ("tablet", "iPad", "pad", "stylus", "screen"),
          ("Apple", "Huawei", "Xiaomi", "Samsung", "Lenovo"), 2499.0),
    _Leaf("Home", "Kitchen", "Cookware", ("锅", "不粘锅", "炒锅", "铸铁锅", "汤锅", "厨具"),
          ("pan", "wok", "pot", "nonstick", "cookware"),
          ("Supor", "Tefal", "Zwilling", "Joyoung", "Lock&Lock"), 199.0),
    _Leaf("Home", "Kitchen", "Tableware", ("碗", "盘子", "餐具", "筷子", "杯子", "陶瓷"),
          ("bowl", "plate", "mug", "cup", "ceramic"),
          ("IKEA", "Corelle", "Muji", "Jingdezhen"), 89.0),
    _Leaf("Home", "Living", "Bedding", ("床品", "四件套", "被子", "枕头", "床单", "纯棉"),
          ("bedding", "duvet", "pillow", "sheets", "cotton"),
          ("Fuanna", "Luolai", "Mercury", "Muji", "IKEA"), 299.0),
    _Leaf("Home", "Living", "Lighting", ("台灯", "吸顶灯", "灯", "护眼", "灯泡"),
          ("lamp", "light", "LED", "bulb", "desk"),
          ("Philips", "Opple", "Yeelight", "Xiaomi", "IKEA"), 159.0),
    _Leaf("Beauty", "Skincare", "Moisturizers", ("面霜", "保湿", "乳液", "补水", "精华"),
          ("moisturizer", "cream", "serum", "hydrating", "lotion"),
          ("Lancome", "Olay", "Kiehls", "SK-II", "Proya"), 299.0),
    _Leaf("Beauty", "Skincare", "Cleansers", ("洗面奶", "洁面", "卸妆", "清洁", "泡沫"),
          ("cleanser", "facial", "wash", "foam", "remover"),
          ("Cetaphil", "CeraVe", "Shiseido", "Freeplus", "Kose"), 89.0),
    _Leaf("Beauty", "Makeup", "Lipstick", ("口红", "唇膏", "唇釉", "哑光", "色号"),
          ("lipstick", "lip", "gloss", "matte", "tint"),
          ("MAC", "Dior", "YSL", "Armani", "Florasis"), 199.0),
    _Leaf("Beauty", "Makeup", "Foundation", ("粉底液", "粉底", "遮瑕", "底妆", "气垫"),
          ("foundation", "concealer", "cushion", "BB", "primer"),
          ("Maybelline", "Shiseido", "Armani", "Lancome", "NARS"), 259.0),
    _Leaf("Sports", "Running", "Running Shoes", ("跑鞋", "跑步鞋", "缓震", "运动鞋", "透气"),
          ("trainers", "cushioning", "sneakers", "shoes", "runner"),
          ("Nike", "Adidas", "Asics", "Li-Ning", "Anta"), 499.0),
    _Leaf("Sports", "Running", "Sportswear", ("运动服", "速干", "T恤", "运动裤", "健身"),
          ("sportswear", "t-shirt", "leggings", "shorts", "gym"),
          ("Nike", "Adidas", "Lululemon", "UnderArmour", "Anta"), 199.0),
    _Leaf("Sports", "Outdoor", "Camping", ("帐篷", "露营", "睡袋", "折叠椅", "营地灯"),
          ("tent", "camping", "lantern", "hammock", "stove"),
          ("Naturehike", "Coleman", "Mobigarden", "Decathlon"), 399.0),
    _Leaf("Sports", "Outdoor", "Cycling", ("自行车", "骑行", "头盔", "山地车", "公路车"),
          ("bike", "bicycle", "cycling", "helmet", "MTB"),
          ("Giant", "Merida", "Decathlon", "Trek"), 1299.0),
    _Leaf("Books", "Literature", "Fiction", ("小说", "长篇小说", "科幻", "悬疑", "文学"),
          ("novel", "fiction", "sci-fi", "mystery", "paperback"),
          ("Penguin", "HarperCollins", "人民文学出版社", "译林出版社"), 49.0),
    _Leaf("Books", "Literature", "History", ("历史", "通史", "传记", "中国史", "朝代"),
          ("history", "biography", "dynasty", "empire", "war"),
          ("中华书局", "三联书店", "Penguin", "Oxford"), 69.0),
    _Leaf("Books", "Education", "Children", ("绘本", "儿童", "童书", "故事书", "启蒙"),
          ("picture", "kids", "children", "stories", "bedtime"),
          ("Scholastic", "DK", "接力出版社", "童趣"), 39.0),
    _Leaf("Books", "Education", "Programming", ("编程", "算法", "机器学习", "计算机", "数据结构"),
          ("programming", "Python", "algorithms", "coding", "computer"),
          ("O'Reilly", "Manning", "人民邮电出版社", "机械工业出版社"), 89.0),
    _Leaf("Food", "Snacks", "Nuts", ("坚果", "每日坚果", "核桃", "腰果", "碧根果"),
          ("nuts", "walnut", "cashew", "almond", "pecan"),
          ("三只松鼠", "良品铺子", "百草味", "Bestore"), 59.0),
    _Leaf("Food", "Snacks", "Chocolate", ("巧克力", "黑巧", "可可", "糖果", "夹心"),
          ("chocolate", "cocoa", "dark", "candy", "truffle"),
          ("Dove", "Ferrero", "Lindt", "Godiva"), 69.0),
    _Leaf("Food", "Drinks", "Tea", ("茶", "绿茶", "乌龙茶", "普洱", "茶叶"),
          ("tea", "green", "oolong", "puer", "leaf"),
          ("Lipton", "Twinings", "大益", "八马"), 129.0),
    _Leaf("Food", "Drinks", "Coffee", ("咖啡", "咖啡豆", "速溶", "挂耳", "拿铁"),
          ("coffee", "beans", "instant", "latte", "espresso"),
          ("Nescafe", "Starbucks", "Lavazza", "Saturnbird"), 89.0),
    _Leaf("Fashion", "Clothing", "Dresses", ("连衣裙", "裙子", "碎花", "长裙", "女装"),
          ("dress", "skirt", "floral", "maxi", "summer"),
          ("Zara", "UR", "H&M", "Uniqlo", "Ochirly"), 259.0),
    _Leaf("Fashion", "Clothing", "Jackets", ("外套", "夹克", "羽绒服", "风衣", "男装"),
          ("jacket", "coat", "down", "parka", "windbreaker"),
          ("Uniqlo", "Zara", "Bosideng", "Jack&Jones"), 499.0),
    _Leaf("Fashion", "Footwear", "Sneakers", ("板鞋", "小白鞋", "休闲鞋", "潮鞋", "帆布鞋"),
          ("sneakers", "casual", "canvas", "trainers", "skate"),
          ("Nike", "Adidas", "Converse", "Vans", "Li-Ning"), 399.0),
    _Leaf("Fashion", "Footwear", "Boots", ("靴子", "马丁靴", "短靴", "雪地靴", "皮靴"),
          ("boots", "leather", "ankle", "chelsea", "winter"),
          ("DrMartens", "UGG", "Timberland", "Clarks"), 599.0),
)

_GENERIC_ZH: tuple[str, ...] = ("新款", "正品", "热卖", "爆款", "官方", "旗舰店", "包邮", "特价")
_GENERIC_EN: tuple[str, ...] = ("2026", "new", "hot", "sale", "official", "best", "original")
_PRICE_SIGMA: dict[str, float] = {
    "Electronics": 0.45, "Home": 0.5, "Beauty": 0.45, "Sports": 0.55,
    "Books": 0.35, "Food": 0.4, "Fashion": 0.5,
}
# Relative share of session starts by hour of day (UTC), evenings busiest.
_HOUR_WEIGHTS: tuple[float, ...] = (
    2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 6, 5, 5, 5, 6, 7, 9, 10, 10, 8, 4,
)


@dataclass(frozen=True)
class SampleWorld:
    """A generated shop: the tables a user would bring, plus the generator's ground truth.

    Attributes:
        events: The normalised events table (see `mtrec_tf.data.schema`): `user_id` str,
            `timestamp` int64 epoch seconds, `event_type` str (one of `EVENT_TYPES`),
            `item_id` str ("" for searches), `query` str ("" in browse sessions),
            `session_id` str, `position` int64 (-1 for searches). Sorted by timestamp, user
            and order within the session.
        items: `item_id` str, `title` str, `category` str (a path "Department > Group > Leaf"),
            `brand` str, `price` float64, `image` bytes (a 64×64 RGB PNG).
        queries: Explicitly labelled queries: `query` str, `category` str (a leaf path).
        query_intents: Ground truth of every search: `session_id` str, `query` str,
            `category` str (the category the user meant).
        user_interests: Ground truth of every user's latent interests: `user_id` str,
            `category` str, `weight` float64 (at the start of the window), `weight_end`
            float64 (at its end; weights move linearly in between).
    """

    events: pd.DataFrame
    items: pd.DataFrame
    queries: pd.DataFrame
    query_intents: pd.DataFrame
    user_interests: pd.DataFrame


def generate_sample(scale: int = 1, seed: int = 0, event_types: str = "default") -> SampleWorld:
    """Generates the sample shop.

    At scale 1 the shop has about 1,200 items in 28 leaf categories, 1,000 users, 8,000
    sessions and 90,000 events over 60 days from 2026-01-01 UTC; items and users grow
    linearly with `scale`. Planted structure: a search's clicks fall mostly in the category
    the user meant; users click mostly in their (drifting) interest categories; popularity is
    Zipf-like within and across categories; click-through falls with position as
    `1 / (1 + position) ** 0.7`; conversion rises with preference and falls with price;
    images carry a per-category shape, colour and texture under noise. Every user clicks at
    least once.

    Args:
        scale: Size multiplier, an integer >= 1.
        seed: Seed of `numpy.random.default_rng`, an integer >= 0.
        event_types: "default" (search, impression, click, add_to_cart, purchase) or
            "extended", which adds `view` and `favorite` events
            (`mtrec_tf.data.sample_events`, declared by its `EXTENDED_EVENT_TYPES`).

    Returns:
        A `SampleWorld`.

    Raises:
        ValueError: If `scale` or `seed` is not a valid integer.

    Example:

    >>> world = generate_sample(scale=1, seed=0)
    >>> len(world.items), world.events["user_id"].nunique()
    (1200, 1000)
    """
    _check_int("scale", scale, minimum=1)
    _check_int("seed", seed, minimum=0)
    check_choice("event_types", event_types, SAMPLE_EVENT_TYPE_SETS)
    # One independent stream per part, so that changing one part leaves the others as they were.
    parts = ("catalogue", "titles", "images", "users", "sessions", "queries", "impressions", "behaviour", "labels")
    streams = dict(zip(parts, np.random.default_rng(seed).spawn(len(parts))))
    paths = _leaf_paths()
    catalogue = _make_catalogue(_ITEMS_PER_SCALE * scale, streams["catalogue"])
    start_weights, end_weights = _make_interests(_USERS_PER_SCALE * scale, catalogue.leaf_share, streams["users"])
    sessions = _make_sessions(start_weights, end_weights, streams["sessions"])
    search_queries = _make_queries(sessions.intent[sessions.search], streams["queries"])
    impressions = _make_impressions(sessions, catalogue, streams["impressions"])
    behaviour = _simulate_behaviour(sessions, catalogue, impressions, streams["behaviour"])

    item_ids = _ids(*_ITEM_ID, len(catalogue.leaf))
    user_ids = _ids(*_USER_ID, len(start_weights))
    session_ids = _ids(*_SESSION_ID, len(sessions.user))
    session_query = np.full(len(sessions.user), "", dtype=object)
    session_query[sessions.search] = search_queries

    events = _events_table(sessions, impressions, behaviour, item_ids, user_ids, session_ids, session_query)
    items = _items_table(catalogue, item_ids, paths, streams["titles"], streams["images"])
    if event_types == "extended":
        events = with_extended_events(events, items, seed)
    return SampleWorld(
        events=events,
        items=items,
        queries=_labelled_queries(_LABELLED_QUERIES_PER_SCALE * scale, paths, streams["labels"]),
        query_intents=pd.DataFrame({
            "session_id": _str(session_ids[sessions.search]),
            "query": _str(search_queries),
            "category": _str(np.asarray(paths, dtype=object)[sessions.intent[sessions.search]]),
        }),
        user_interests=_interests_table(start_weights, end_weights, user_ids, paths),
    )


def write_sample(
    out_dir: str | os.PathLike,
    scale: int = 1,
    seed: int = 0,
    fmt: str = "parquet",
    event_types: str = "default",
) -> Path:
    """Generates the sample shop and writes it as files.

    Writes, in `out_dir`: `events.<ext>`, `items.<ext>` (its `image` column holds the
    relative path `images/<item_id>.png`), `queries.<ext>`, the PNGs under `images/`, the
    ground truth under `truth/` (`query_intents.<ext>`, `user_interests.<ext>`) and a short
    `README.txt`. Each file is written to a temporary name and then renamed into place.
    The same seed and scale give byte-identical files.

    Args:
        out_dir: Output folder; created if missing.
        scale: Size multiplier, an integer >= 1.
        seed: Seed of `numpy.random.default_rng`, an integer >= 0.
        fmt: "parquet", "csv" (UTF-8 with a header) or "jsonl" (one JSON object a line,
            non-ASCII text kept as is).
        event_types: the event types, as in `generate_sample`.

    Returns:
        `out_dir` as a `Path`.

    Raises:
        ValueError: If `scale`, `seed` or `fmt` is not valid.

    Example:

    >>> out = write_sample("/tmp/shop", scale=1, seed=0, fmt="csv")
    >>> sorted(p.name for p in out.glob("*.csv"))
    ['events.csv', 'items.csv', 'queries.csv']
    """
    check_choice("fmt", fmt, FORMATS)
    _check_int("scale", scale, minimum=1)
    _check_int("seed", seed, minimum=0)
    world = generate_sample(scale=scale, seed=seed, event_types=event_types)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(exist_ok=True)

    items = world.items.drop(columns="image")
    items["image"] = _str(np.array([f"images/{i}.png" for i in items["item_id"]], dtype=object))
    for item_id, png in zip(world.items["item_id"], world.items["image"]):
        _atomic_write(out / "images" / f"{item_id}.png", functools.partial(Path.write_bytes, data=png))
    tables = {
        "events": world.events, "items": items, "queries": world.queries,
        "truth/query_intents": world.query_intents, "truth/user_interests": world.user_interests,
    }
    for name, frame in tables.items():
        _write_table(frame, out / f"{name}.{fmt}", fmt)
    readme = _readme(world, scale, seed, fmt)
    _atomic_write(out / "README.txt", lambda tmp: tmp.write_text(readme, encoding="utf-8"))
    return out


# ---------------------------------------------------------------------------------------------
# Catalogue


@dataclass(frozen=True)
class _Catalogue:
    leaf: np.ndarray  # (n_items,) leaf index
    within: np.ndarray  # (n_items,) share of its leaf's exposure
    popularity: np.ndarray  # (n_items,) share of all exposure
    leaf_share: np.ndarray  # (n_leaves,) share of all exposure per leaf
    quality: np.ndarray  # (n_items,) click propensity multiplier, mean about 1
    price: np.ndarray  # (n_items,) float64
    price_factor: np.ndarray  # (n_items,) conversion multiplier, > 1 when cheap for its leaf


def _make_catalogue(n_items: int, rng: np.random.Generator) -> _Catalogue:
    n_leaves = len(_LEAVES)
    floor = n_items // (3 * n_leaves)
    counts = floor + rng.multinomial(n_items - floor * n_leaves, rng.dirichlet(np.full(n_leaves, 8.0)))
    leaf = rng.permutation(np.repeat(np.arange(n_leaves), counts))

    quality = np.exp(rng.normal(-0.045, 0.3, n_items))
    # Better items tend to be more popular: rank by quality plus noise within each leaf.
    score = np.log(quality) + rng.normal(0.0, 0.5, n_items)
    order = np.lexsort((-score, leaf))
    rank = np.empty(n_items, dtype=np.int64)
    rank[order] = _group_rank(leaf[order]) + 1
    within = rank.astype(float) ** -_ZIPF_WITHIN
    within /= np.bincount(leaf, weights=within, minlength=n_leaves)[leaf]
    leaf_share = (rng.permutation(n_leaves) + 1.0) ** -_ZIPF_ACROSS
    leaf_share /= leaf_share.sum()

    median = np.array([spec.price for spec in _LEAVES])[leaf]
    sigma = np.array([_PRICE_SIGMA[spec.department] for spec in _LEAVES])[leaf]
    price = np.round(np.maximum(median * np.exp(rng.normal(0.0, 1.0, n_items) * sigma), 1.0), 2)
    return _Catalogue(
        leaf=leaf, within=within, popularity=leaf_share[leaf] * within, leaf_share=leaf_share,
        quality=quality, price=price, price_factor=np.clip((price / median) ** -0.4, 0.6, 1.6),
    )


def _leaf_paths() -> tuple[str, ...]:
    return tuple(CATEGORY_SEPARATOR.join((s.department, s.group, s.name)) for s in _LEAVES)


def _word_pools(spec: _Leaf) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Chinese words, English words and brands of a leaf, its group's words included."""
    group_zh, group_en = _GROUP_WORDS[spec.group]
    return (tuple(dict.fromkeys(spec.zh + group_zh)), tuple(dict.fromkeys(spec.en + group_en)), spec.brands)


def _siblings() -> np.ndarray:
    """(n_leaves, k) indices of the other leaves of each leaf's department."""
    departments = [spec.department for spec in _LEAVES]
    return np.array([[j for j, d in enumerate(departments) if d == dept and j != i]
                     for i, dept in enumerate(departments)])


def _make_titles(leaf: np.ndarray, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Titles of 3 to 8 words (brand, leaf words in both languages, generic words) and brands."""
    pools = [_word_pools(spec) for spec in _LEAVES]
    siblings = _siblings()
    generic = _GENERIC_ZH + _GENERIC_EN
    titles: list[str] = []
    brands: list[str] = []
    for item_leaf in leaf:
        zh, en, leaf_brands = pools[item_leaf]
        brand = leaf_brands[rng.integers(len(leaf_brands))]
        words = [zh[i] for i in rng.permutation(len(zh))[: rng.integers(1, 3)]]
        words += [en[i] for i in rng.permutation(len(en))[: rng.integers(1, 3)]]
        if rng.random() < 0.1:  # an accessory or bundle word from a related leaf
            other_zh, other_en, _ = pools[siblings[item_leaf, rng.integers(siblings.shape[1])]]
            other = other_zh + other_en
            words.append(other[rng.integers(len(other))])
        words = [words[i] for i in rng.permutation(len(words))]
        extra = [generic[i] for i in rng.permutation(len(generic))[: rng.choice(3, p=(0.45, 0.4, 0.15))]]
        tokens = extra[:1] + [brand] + words + extra[1:]
        titles.append(" ".join(dict.fromkeys(tokens)))
        brands.append(brand)
    return titles, brands


def _items_table(
    catalogue: _Catalogue,
    item_ids: np.ndarray,
    paths: tuple[str, ...],
    title_rng: np.random.Generator,
    image_rng: np.random.Generator,
) -> pd.DataFrame:
    titles, brands = _make_titles(catalogue.leaf, title_rng)
    images = np.empty(len(item_ids), dtype=object)
    images[:] = _draw_images(catalogue.leaf, image_rng)
    return pd.DataFrame({
        "item_id": _str(item_ids),
        "title": _str(np.array(titles, dtype=object)),
        "category": _str(np.asarray(paths, dtype=object)[catalogue.leaf]),
        "brand": _str(np.array(brands, dtype=object)),
        "price": catalogue.price.astype(np.float64),
        "image": pd.Series(images, dtype=object),
    })


# ---------------------------------------------------------------------------------------------
# Images


class _Signatures(NamedTuple):
    shape: np.ndarray  # (n_leaves,) index into _SHAPE_TESTS
    hue: np.ndarray
    saturation: np.ndarray
    value: np.ndarray
    frequency: np.ndarray  # texture cycles per image width
    angle: np.ndarray  # texture orientation (radians)
    checker: np.ndarray  # bool: checkerboard texture, else stripes


def _visual_signatures() -> _Signatures:
    """Per-leaf look: leaves of one group share a shape and differ in colour and texture."""
    departments = list(dict.fromkeys(spec.department for spec in _LEAVES))
    groups = list(dict.fromkeys((spec.department, spec.group) for spec in _LEAVES))
    dept = np.array([departments.index(spec.department) for spec in _LEAVES])
    group = np.array([groups.index((spec.department, spec.group)) for spec in _LEAVES])
    index = np.arange(len(_LEAVES))
    return _Signatures(
        shape=group % len(_SHAPE_TESTS),
        hue=(index * 0.618034) % 1.0,
        saturation=np.where(index % 2 == 0, 0.85, 0.6),
        value=np.where(index % 3 == 0, 0.65, 0.88),
        frequency=np.array([3.0, 5.0, 8.0])[index % 3],
        angle=np.array([0.0, 0.25, 0.5, 0.75])[index % 4] * np.pi,
        checker=(dept + index) % 2 == 1,
    )


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV to RGB, all in [0, 1]; returns shape `h.shape + (3,)`."""
    sector = np.floor(h * 6.0)
    f = h * 6.0 - sector
    sector = sector.astype(np.int64) % 6
    p, q, t = v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s)
    r = np.choose(sector, (v, q, p, p, t, v))
    g = np.choose(sector, (t, v, v, q, p, p))
    b = np.choose(sector, (p, p, t, v, v, q))
    return np.stack((r, g, b), axis=-1)


_ShapeTest = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
# Inside-the-shape tests on offsets (u, v) from the centre, for a shape of radius r.
_SHAPE_TESTS: dict[str, _ShapeTest] = {
    "circle": lambda u, v, r: u * u + v * v <= r * r,
    "square": lambda u, v, r: np.maximum(np.abs(u), np.abs(v)) <= 0.8 * r,
    "triangle": lambda u, v, r: (v <= 0.5 * r) & (v >= -r + 1.73 * np.abs(u)),
    "ring": lambda u, v, r: (u * u + v * v <= r * r) & (u * u + v * v >= (0.55 * r) ** 2),
    "diamond": lambda u, v, r: np.abs(u) + np.abs(v) <= r,
    "cross": lambda u, v, r: (np.minimum(np.abs(u), np.abs(v)) <= 0.3 * r) & (np.maximum(np.abs(u), np.abs(v)) <= r),
    "bar": lambda u, v, r: (np.abs(u) <= r) & (np.abs(v) <= 0.4 * r),
    "crescent": lambda u, v, r: (u * u + v * v <= r * r) & ((u - 0.45 * r) ** 2 + v * v > (0.8 * r) ** 2),
}


def _shape_mask(shape: np.ndarray, u: np.ndarray, v: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Pixels inside each image's shape; `u`, `v` (n, H, W) offsets from its centre, `r` (n, 1, 1)."""
    mask = np.zeros(u.shape, dtype=bool)
    for index, test in enumerate(_SHAPE_TESTS.values()):
        chosen = shape == index
        if chosen.any():
            mask[chosen] = test(u[chosen], v[chosen], r[chosen])
    return mask


def _image_parameters(leaf: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-image draws: the leaf's signature under position, size, colour and texture jitter."""
    sig = _visual_signatures()
    n = len(leaf)
    unit = lambda low, high: rng.uniform(low, high, n)  # noqa: E731
    # A few product photos do not look like their category at all.
    leaf = np.where(rng.random(n) < 0.05, rng.integers(0, len(_LEAVES), n), leaf)
    hue = (sig.hue[leaf] + rng.normal(0.0, 0.025, n)) % 1.0
    saturation = np.clip(sig.saturation[leaf] + rng.normal(0.0, 0.08, n), 0.15, 1.0)
    value = np.clip(sig.value[leaf] + rng.normal(0.0, 0.08, n), 0.25, 1.0)
    distractor = rng.random(n) < 0.35
    return {
        "shape": sig.shape[leaf], "cx": unit(0.3, 0.7), "cy": unit(0.3, 0.7), "r": unit(0.18, 0.3),
        "rotation": rng.normal(0.0, 0.25, n), "colour": _hsv_to_rgb(hue, saturation, value),
        "frequency": sig.frequency[leaf] * unit(0.85, 1.15), "angle": sig.angle[leaf] + rng.normal(0.0, 0.15, n),
        "phase": unit(0.0, 2 * np.pi), "checker": sig.checker[leaf],
        "background": _hsv_to_rgb(unit(0.0, 1.0), unit(0.0, 0.25), unit(0.75, 0.98)),
        "d_shape": rng.integers(0, len(_SHAPE_TESTS), n), "d_cx": unit(0.1, 0.9), "d_cy": unit(0.1, 0.9),
        "d_r": np.where(distractor, unit(0.06, 0.12), 0.0),
        "d_colour": _hsv_to_rgb(unit(0.0, 1.0), unit(0.4, 0.9), unit(0.4, 0.9)),
    }


def _render(p: dict[str, np.ndarray], noise: np.ndarray) -> np.ndarray:
    """Draws a batch of images from `_image_parameters` slices; returns (n, H, W, 3) uint8."""
    p = {k: a.astype(np.float32) if a.dtype == np.float64 else a for k, a in p.items()}
    grid = ((np.arange(IMAGE_SIZE) + 0.5) / IMAGE_SIZE).astype(np.float32)
    col = lambda a: a[:, None, None]  # noqa: E731  (n,) -> (n, 1, 1)
    dx, dy = grid[None, None, :] - col(p["cx"]), grid[None, :, None] - col(p["cy"])  # (n, 1, W), (n, H, 1)
    cos, sin = col(np.cos(p["rotation"])), col(np.sin(p["rotation"]))
    u, v = dx * cos + dy * sin, dy * cos - dx * sin  # (n, H, W)
    inside = _shape_mask(p["shape"], u, v, col(p["r"]))
    du, dv = np.broadcast_arrays(grid[None, None, :] - col(p["d_cx"]), grid[None, :, None] - col(p["d_cy"]))
    distractor = _shape_mask(p["d_shape"], du, dv, col(p["d_r"])) & (col(p["d_r"]) > 0)

    wave = 2 * np.pi * col(p["frequency"])
    cos_a, sin_a = col(np.cos(p["angle"])), col(np.sin(p["angle"]))
    along = np.sin(wave * (u * cos_a + v * sin_a) + col(p["phase"]))
    across = np.sin(wave * (v * cos_a - u * sin_a))
    texture = np.where(col(p["checker"]), np.sign(along * across), along)  # in [-1, 1]
    shade = 0.825 + 0.175 * texture

    image = np.empty((3,) + inside.shape, dtype=np.float32)  # (3, n, H, W)
    for c in range(3):
        image[c] = np.where(inside, shade * col(p["colour"][:, c]), col(p["background"][:, c]))
        image[c] = np.where(distractor, col(p["d_colour"][:, c]), image[c])
    image += noise
    image = np.clip(image * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
    return np.ascontiguousarray(image.transpose(1, 2, 3, 0))


def _draw_images(leaf: np.ndarray, rng: np.random.Generator, batch: int = 256) -> list[bytes]:
    """One PNG-encoded 64×64 RGB image per item."""
    params = _image_parameters(leaf, rng)
    pngs: list[bytes] = []
    for start in range(0, len(leaf), batch):
        part = {k: a[start:start + batch] for k, a in params.items()}
        size = len(part["cx"])
        noise = rng.standard_normal((3, size, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32) * np.float32(0.06)
        pngs += [_png(pixels) for pixels in _render(part, noise)]
    return pngs


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Users and sessions


def _make_interests(
    n_users: int, leaf_share: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Interest weights at the start and end of the window, each (n_users, n_leaves).

    Every user starts with 2 to 4 leaves (Dirichlet weights), drawn by leaf popularity and
    favouring one home department. By the end one interest fades and a new one appears.
    """
    n_leaves = len(_LEAVES)
    departments = list(dict.fromkeys(spec.department for spec in _LEAVES))
    leaf_dept = np.array([departments.index(spec.department) for spec in _LEAVES])
    home = rng.integers(0, len(departments), n_users)
    logits = 0.5 * np.log(leaf_share)[None, :] + 1.2 * (leaf_dept[None, :] == home[:, None])
    ranked = np.argsort(-(logits + rng.gumbel(size=(n_users, n_leaves))), axis=1, kind="stable")[:, :5]

    k = rng.integers(2, 5, n_users)
    rows = np.arange(n_users)
    slots = np.arange(4)[None, :] < k[:, None]  # (n_users, 4)
    gamma = rng.gamma(1.0, size=(n_users, 4)) * slots
    start = np.zeros((n_users, n_leaves))
    start[rows[:, None], ranked[:, :4]] = gamma / gamma.sum(axis=1, keepdims=True)

    end = start.copy()
    fading = ranked[rows, (rng.random(n_users) * k).astype(np.int64)]
    end[rows, fading] *= rng.uniform(0.0, 0.25, n_users)
    emerging_weight = rng.uniform(0.15, 0.45, n_users)
    end *= ((1.0 - emerging_weight) / end.sum(axis=1))[:, None]
    end[rows, ranked[rows, k]] = emerging_weight
    return start, end


@dataclass(frozen=True)
class _Sessions:
    user: np.ndarray  # (n,) user index; sessions sorted by (start, user)
    start: np.ndarray  # (n,) int64 epoch seconds
    search: np.ndarray  # (n,) bool: starts with a search
    intent: np.ndarray  # (n,) leaf the search means, -1 in browse sessions
    weights: np.ndarray  # (n, n_leaves) the user's interest weights at the start


def _make_sessions(start_weights: np.ndarray, end_weights: np.ndarray, rng: np.random.Generator) -> _Sessions:
    n_users, n_leaves = start_weights.shape
    activity = _MEAN_SESSIONS * np.exp(rng.normal(-0.18, 0.6, n_users))
    counts = np.minimum(1 + rng.poisson(np.maximum(activity - 1.0, 0.0)), _MAX_SESSIONS)
    user = np.repeat(np.arange(n_users), counts)
    n = len(user)
    hours = rng.choice(24, size=n, p=np.array(_HOUR_WEIGHTS) / sum(_HOUR_WEIGHTS))
    # The last day is kept free so that spacing sessions apart never leaves the window.
    offset = rng.integers(0, WINDOW_DAYS - 1, n) * 86_400 + hours * 3_600 + rng.integers(0, 3_600, n)

    order = np.lexsort((offset, user))
    user, offset = user[order], offset[order]
    offset = _space_apart(offset, user, _SESSION_GAP)
    order = np.lexsort((user, offset))
    user, offset = user[order], offset[order]

    tau = (offset / _WINDOW_SECONDS)[:, None]
    weights = (1.0 - tau) * start_weights[user] + tau * end_weights[user]
    search = rng.random(n) < _SEARCH_SHARE
    intent = _rowwise_categorical(weights, rng.random((n, 1)))[:, 0]
    explore = rng.random(n) < 0.04  # a search outside the user's interests
    intent = np.where(explore, rng.integers(0, n_leaves, n), intent)
    return _Sessions(user=user, start=START_TIMESTAMP + offset.astype(np.int64),
                     search=search, intent=np.where(search, intent, -1), weights=weights)


def _space_apart(times: np.ndarray, groups: np.ndarray, gap: int) -> np.ndarray:
    """Delays sorted times within each group so that consecutive ones are >= `gap` apart."""
    j = _group_rank(groups)
    # t'_j = max(t_j, t'_{j-1} + gap) = gap * j + running max of (t_i - gap * i); groups kept apart by an offset.
    span = int(times.max() - times.min()) + gap * (len(times) + 1) + 1
    shifted = times - gap * j + groups.astype(np.int64) * span
    return np.maximum.accumulate(shifted) - groups.astype(np.int64) * span + gap * j


# ---------------------------------------------------------------------------------------------
# Queries


def _make_queries(leaves: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Search queries for intended leaves: 1 to 4 words in mixed languages, typos, brands."""
    n = len(leaves)
    n_words = rng.choice((1, 2, 3, 4), size=n, p=(0.3, 0.35, 0.22, 0.13))
    kind = rng.random((n, 4))  # < 0.45 Chinese word, < 0.8 English word, else a brand
    pick = rng.random((n, 4))
    typo = rng.random((n, 4)) < 0.1
    typo_kind = rng.integers(0, 2, (n, 4))  # 0: swap two letters, 1: drop a letter
    typo_at = rng.random((n, 4))
    lower = rng.random(n) < 0.6
    generic = rng.random(n) < 0.15
    generic_pick = rng.random(n)
    generic_first = rng.random(n) < 0.5

    pools = [_word_pools(spec) for spec in _LEAVES]
    generic_words = _GENERIC_ZH + _GENERIC_EN
    queries = np.empty(n, dtype=object)
    for q, leaf in enumerate(leaves):
        words: list[str] = []
        for slot in range(n_words[q]):
            pool = pools[leaf][0 if kind[q, slot] < 0.45 else 1 if kind[q, slot] < 0.8 else 2]
            word = pool[int(pick[q, slot] * len(pool))]
            if lower[q]:
                word = word.lower()
            if typo[q, slot]:
                word = _typo(word, typo_kind[q, slot], typo_at[q, slot])
            if word not in words:
                words.append(word)
        if generic[q]:
            word = generic_words[int(generic_pick[q] * len(generic_words))]
            words = [word] + words if generic_first[q] else words + [word]
        queries[q] = " ".join(words)
    return queries


def _typo(word: str, kind: int, at: float) -> str:
    """Swaps two neighbouring letters or drops one, in ASCII words of 4 letters or more."""
    if len(word) < 4 or not word.isascii():
        return word
    if kind == 0:
        i = int(at * (len(word) - 1))
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    i = 1 + int(at * (len(word) - 1))
    return word[:i] + word[i + 1:]


def _labelled_queries(n: int, paths: tuple[str, ...], rng: np.random.Generator) -> pd.DataFrame:
    leaves = rng.integers(0, len(_LEAVES), n)
    frame = pd.DataFrame({
        "query": _str(_make_queries(leaves, rng)),
        "category": _str(np.asarray(paths, dtype=object)[leaves]),
    })
    return frame.drop_duplicates(ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Impressions and behaviour


@dataclass(frozen=True)
class _Impressions:
    session: np.ndarray  # (n,) session index; sorted by (session, position)
    item: np.ndarray  # (n,) item index
    position: np.ndarray  # (n,) int64 rank in the list, from 0
    time: np.ndarray  # (n,) int64 epoch seconds, shared by one session's list


def _make_impressions(sessions: _Sessions, catalogue: _Catalogue, rng: np.random.Generator) -> _Impressions:
    """Ranked lists of 8 to 10 distinct items per session.

    Search lists mix items of the intended leaf (sampled by popularity, in sampling order),
    of its department and of the whole shop, the off-intent items pushed down a little.
    Browse lists sample leaves from the user's current interests and the whole shop.
    """
    n, m = len(sessions.user), _CANDIDATES
    length = rng.integers(8, 11, n)
    draw = rng.random((n, m))
    search = sessions.search[:, None]
    # Sources: 0 intended leaf, 1 a sibling leaf, 2 an interest leaf, 3 anywhere by popularity.
    source = np.where(search, np.where(draw < 0.65, 0, np.where(draw < 0.8, 1, 3)), np.where(draw < 0.8, 2, 3))
    intent = np.maximum(sessions.intent, 0)[:, None]
    siblings = _siblings()
    sibling = siblings[intent, rng.integers(0, siblings.shape[1], (n, m))]
    interest = _rowwise_categorical(sessions.weights, rng.random((n, m)))
    leaf = np.choose(np.minimum(source, 2), (np.broadcast_to(intent, (n, m)), sibling, interest))
    sampler = _ItemSampler.build(catalogue)
    item = np.where(source == 3, sampler.anywhere(rng.random((n, m))), sampler.in_leaf(leaf, rng.random((n, m))))

    session = np.repeat(np.arange(n), m)
    item = item.ravel()
    _, first = np.unique(session * len(catalogue.leaf) + item, return_index=True)
    keep = np.zeros(len(item), dtype=bool)
    keep[first] = True
    session, item = session[keep], item[keep]
    rank = _group_rank(session)
    keep = rank < length[session]
    session, item, rank = session[keep], item[keep], rank[keep]

    off_intent = sessions.search[session] & (catalogue.leaf[item] != sessions.intent[session])
    key = rank + off_intent * rng.uniform(0.0, 4.0, len(rank))
    order = np.lexsort((key, session))
    session, item = session[order], item[order]
    delay = np.where(sessions.search, rng.integers(1, 3, n), 0)
    return _Impressions(session=session, item=item, position=_group_rank(session),
                        time=(sessions.start + delay)[session])


@dataclass(frozen=True)
class _ItemSampler:
    """Draws items by popularity, within given leaves or across the shop."""

    order: np.ndarray  # item indices sorted by leaf
    cumulative: np.ndarray  # (n_items + 1,) running within-leaf shares along `order`, from 0
    bounds: np.ndarray  # (n_leaves + 1,) where each leaf starts in `order`
    global_cumulative: np.ndarray  # (n_items + 1,) running popularity by item index, from 0

    @classmethod
    def build(cls, catalogue: _Catalogue) -> _ItemSampler:
        order = np.argsort(catalogue.leaf, kind="stable")
        counts = np.bincount(catalogue.leaf, minlength=len(_LEAVES))
        return cls(
            order=order,
            cumulative=np.concatenate(([0.0], np.cumsum(catalogue.within[order]))),
            bounds=np.concatenate(([0], np.cumsum(counts))),
            global_cumulative=np.concatenate(([0.0], np.cumsum(catalogue.popularity))),
        )

    def in_leaf(self, leaf: np.ndarray, u: np.ndarray) -> np.ndarray:
        low, high = self.bounds[leaf], self.bounds[leaf + 1]
        target = self.cumulative[low] + u * (self.cumulative[high] - self.cumulative[low])
        index = np.clip(np.searchsorted(self.cumulative, target, side="right") - 1, low, high - 1)
        return self.order[index]

    def anywhere(self, u: np.ndarray) -> np.ndarray:
        target = u * self.global_cumulative[-1]
        index = np.searchsorted(self.global_cumulative, target, side="right") - 1
        return np.clip(index, 0, len(self.global_cumulative) - 2)


@dataclass(frozen=True)
class _Behaviour:
    impression: np.ndarray  # (n,) index into the impressions; sorted by (session, position, step)
    step: np.ndarray  # (n,) 0 click, 1 add to cart, 2 purchase
    time: np.ndarray  # (n,) int64 epoch seconds, strictly increasing within a session


def _simulate_behaviour(
    sessions: _Sessions, catalogue: _Catalogue, impressions: _Impressions, rng: np.random.Generator
) -> _Behaviour:
    """Clicks, add-to-carts and purchases on the impressions.

    P(click) = scale · quality · relevance / (1 + position) ** 0.7, where relevance is 1 for
    an item of the searched leaf and otherwise 0.15 plus the user's current interest weight
    of the item's leaf. Add-to-cart given a click and purchase given add-to-cart grow with the same
    preference (plus a bonus on the searched leaf) and fall with price.
    """
    session, item = impressions.session, impressions.item
    leaf = catalogue.leaf[item]
    affinity = sessions.weights[session, leaf]
    search = sessions.search[session]
    on_intent = search & (leaf == sessions.intent[session])
    relevance = np.where(on_intent, 1.0, 0.15 + affinity)
    p_click = np.clip(_CLICK_SCALE * catalogue.quality[item] * relevance
                      / (1.0 + impressions.position) ** _POSITION_EXPONENT, 0.0, 0.95)
    clicked = rng.random(len(item)) < p_click
    clicked = _ensure_a_click_per_user(clicked, p_click, sessions.user[session])

    preference = affinity + 0.5 * on_intent
    p_cart = np.clip((0.04 + 0.25 * preference) * catalogue.price_factor[item], 0.0, 0.9)
    p_buy = np.clip((0.2 + 0.35 * preference) * catalogue.price_factor[item], 0.0, 0.95)
    carted = clicked & (rng.random(len(item)) < p_cart)
    bought = carted & (rng.random(len(item)) < p_buy)

    steps = clicked.astype(np.int64) + carted + bought
    index = np.repeat(np.arange(len(item)), steps)
    step = _group_rank(index)
    # Seconds after the previous event of the session: reading, deciding, paying.
    gap = np.choose(step, (2 + rng.geometric(1 / 12, len(index)),
                           3 + rng.geometric(1 / 25, len(index)),
                           5 + rng.geometric(1 / 45, len(index))))
    gap = np.minimum(gap, 300)
    time = impressions.time[index] + _group_cumsum(gap, session[index])
    return _Behaviour(impression=index, step=step, time=time.astype(np.int64))


def _ensure_a_click_per_user(clicked: np.ndarray, p_click: np.ndarray, user: np.ndarray) -> np.ndarray:
    """Clicks each click-less user's most likely impression."""
    has_click = np.bincount(user, weights=clicked, minlength=user.max() + 1) > 0
    order = np.lexsort((-p_click, user))
    first = order[np.r_[True, user[order][1:] != user[order][:-1]]]  # best impression per user
    clicked = clicked.copy()
    clicked[first[~has_click[user[first]]]] = True
    return clicked


# ---------------------------------------------------------------------------------------------
# Tables


def _events_table(
    sessions: _Sessions,
    impressions: _Impressions,
    behaviour: _Behaviour,
    item_ids: np.ndarray,
    user_ids: np.ndarray,
    session_ids: np.ndarray,
    session_query: np.ndarray,
) -> pd.DataFrame:
    searches = np.flatnonzero(sessions.search)
    acted = behaviour.impression
    session = np.concatenate((searches, impressions.session, impressions.session[acted]))
    n_search, n_impression = len(searches), len(impressions.session)
    event_type = np.concatenate((
        np.full(n_search, _EVENT_CODES["search"]),
        np.full(n_impression, _EVENT_CODES["impression"]),
        _EVENT_CODES["click"] + behaviour.step,
    ))
    item = np.concatenate((np.full(n_search, -1), impressions.item, impressions.item[acted]))
    position = np.concatenate((np.full(n_search, -1), impressions.position, impressions.position[acted]))
    time = np.concatenate((sessions.start[searches], impressions.time, behaviour.time))
    # Order within a session: the search, the list by position, then behaviour in time.
    sequence = np.concatenate((np.zeros(n_search), 1 + impressions.position,
                               1_000 + np.arange(len(acted))))
    user = sessions.user[session]
    order = np.lexsort((sequence, user, time))

    session, item = session[order], item[order]
    return pd.DataFrame({
        "user_id": _str(user_ids[user[order]]),
        "timestamp": time[order].astype(np.int64),
        "event_type": _str(np.asarray(EVENT_TYPES, dtype=object)[event_type[order]]),
        "item_id": _str(np.where(item >= 0, item_ids[np.maximum(item, 0)], "")),
        "query": _str(session_query[session]),
        "session_id": _str(session_ids[session]),
        "position": position[order].astype(np.int64),
    })


def _interests_table(
    start: np.ndarray, end: np.ndarray, user_ids: np.ndarray, paths: tuple[str, ...]
) -> pd.DataFrame:
    users, leaves = np.nonzero((start > 0) | (end > 0))  # row-major: by user, then leaf
    return pd.DataFrame({
        "user_id": _str(user_ids[users]),
        "category": _str(np.asarray(paths, dtype=object)[leaves]),
        "weight": start[users, leaves].astype(np.float64),
        "weight_end": end[users, leaves].astype(np.float64),
    })


def _readme(world: SampleWorld, scale: int, seed: int, fmt: str) -> str:
    events = world.events
    first, last = (pd.Timestamp(START_TIMESTAMP + days * 86_400, unit="s").date() for days in (0, WINDOW_DAYS - 1))
    return (
        f"mtrec-tf sample shop, seed {seed}, scale {scale}: synthetic data; the same seed and scale "
        f"give the same files.\n"
        f"events.{fmt}: {len(events):,} events of {events['user_id'].nunique():,} users in "
        f"{events['session_id'].nunique():,} sessions, {first} to {last} UTC; items.{fmt}: "
        f"{len(world.items):,} items in {world.items['category'].nunique()} leaf categories, 64x64 PNG "
        f"images under images/; queries.{fmt}: {len(world.queries):,} labelled queries.\n"
        f"truth/: the generator's hidden state (the intended category of each search, users' interest "
        f"weights at the start and end), for evaluation only.\n"
    )


# ---------------------------------------------------------------------------------------------
# Writing


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        _atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    elif fmt == "csv":
        _atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n"))
    else:
        _atomic_write(path, lambda tmp: _write_jsonl(frame, tmp))


def _write_jsonl(frame: pd.DataFrame, path: Path) -> None:
    """One `json.dumps(row, ensure_ascii=False)` a line, each distinct value encoded once."""
    lines = np.full(len(frame), "{", dtype=object)
    for i, column in enumerate(frame.columns):
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=False)
        encoded = np.array([json.dumps(v, ensure_ascii=False) for v in uniques.tolist()], dtype=object)
        lines += ("" if i == 0 else ", ") + json.dumps(column, ensure_ascii=False) + ": " + encoded[codes]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "}\n" for line in lines)


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Writes through `write(temporary_path)` in the same folder, then renames into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# Helpers


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _ids(prefix: str, digits: int, n: int) -> np.ndarray:
    width = max(digits, len(str(max(n - 1, 0))))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _str(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype="str")


def _group_rank(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of a grouped (sorted) array."""
    index = np.arange(len(groups))
    starts = np.r_[True, groups[1:] != groups[:-1]] if len(groups) else np.zeros(0, dtype=bool)
    return index - np.maximum.accumulate(np.where(starts, index, 0))


def _group_cumsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Running sum of `values` within each run of equal values of a grouped array."""
    total = np.cumsum(values)
    start = np.arange(len(values)) - _group_rank(groups)
    return total - total[start] + values[start]


def _rowwise_categorical(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Draws (n, m) column indices, row i distributed as `weights[i]`, from uniforms `u` (n, m)."""
    n, k = weights.shape
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    rows = np.arange(n)[:, None]
    # Offsetting row i by i makes one sorted array, so one searchsorted serves every row.
    flat = (cumulative + rows).ravel()
    index = np.searchsorted(flat, (u + rows).ravel(), side="right").reshape(u.shape) - rows * k
    return np.clip(index, 0, k - 1)
