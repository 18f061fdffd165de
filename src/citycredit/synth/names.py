"""Name parts for the synthetic Yulin city and pure functions composing names from them."""

from __future__ import annotations

import random
from dataclasses import dataclass

# County code → name used inside organisation names (the full current name).
COUNTY_NAMES: dict[str, str] = {
    "610802": "榆阳区",
    "610803": "横山区",
    "610822": "府谷县",
    "610824": "靖边县",
    "610825": "定边县",
    "610826": "绥德县",
    "610827": "米脂县",
    "610828": "佳县",
    "610829": "吴堡县",
    "610830": "清涧县",
    "610831": "子洲县",
    "610881": "神木市",
}


def _w(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Local place words used as trade names (字号): rivers, deserts, passes, old prefectures.
PLACE_WORDS: tuple[str, ...] = _w(
    "驼城 塞上 塞北 毛乌素 红碱淖 镇北台 榆溪 无定河 秃尾河 窟野河 长城 黄河 白云山 "
    "红石峡 麟州 银州 绥州 上郡 夏州 统万 大漠 金鸡滩 大柳塔 锦界 清水 陕北 "
    "府州 二郎山 杨家城 石峁 李家崖 芦河 神府 高家堡 麻黄梁 "
    "双山 大保当 孟家湾 芹河 古城 鱼河 镇川 宁条梁 安边 砖井 盐场堡 佳芦 宽州 "
    "双湖峪 马蹄沟 郭兴庄"
)

# Auspicious characters, paired into two-character trade names (字号).
TRADE_CHARS = (
    "鑫泰源恒盛昌隆兴华宏达丰瑞祥福安康顺利通嘉和润泽天远航金银鼎博诚信德仁智宇翔晟昊鸿鹏"
    "飞腾跃辉煌耀明晨阳光星辰景晶琪瑶佳美锦绣荣裕富汇聚合众联创新实中北西东方圆正大力强坤乾"
    "元亨永长青松柏梅兰竹龙凤麒麟骏驰宝峰岳川海江泉溪林森万千百亿鼎众铭宸睿卓越凯旋豪杰俊"
    "雄伟基业立成厚朴祺禧吉庆春秋夏冬雨露云霞山水石玉"
)

# Fixed two- and three-character trade names in common use.
TRADE_WORDS: tuple[str, ...] = _w(
    "金泰 华电 恒源 宏远 腾达 隆德 兴茂 天元 北元 神通 鑫源 瑞丰 永盛 泰和 德润 "
    "中鼎 东方红 新世纪 聚宝盆 万家乐 好日子 金太阳 绿洲 丰泽 亿隆 华润 大兴 鸿运 "
    "一帆 兴旺 红日 金海 国泰 民安 富平 安泰 宝通 长青 瑞泽 顺达 通源 盛达 鼎盛 "
    "鸿基 启航 东升 金秋"
)


@dataclass(frozen=True)
class Industry:
    """An industry of the synthetic economy: GB/T 4754 label, name words and weights."""

    key: str
    label: str  # GB/T 4754 category, written to DJ_HY
    words: tuple[str, ...]  # industry words inside organisation names
    shops: tuple[str, ...]  # shop words for individual businesses
    weight: int
    capital: tuple[float, float]  # registered capital range, 万元
    counties: tuple[str, ...] = ()  # counties where it concentrates (empty: everywhere)


INDUSTRIES: tuple[Industry, ...] = (
    Industry(
        "coal",
        "煤炭开采和洗选业",
        _w("煤业 矿业 煤矿 煤炭运销 洗煤 煤炭"),
        _w("煤炭经销部 煤场"),
        12,
        (500, 50000),
        ("610881", "610822", "610802", "610803"),
    ),
    Industry(
        "chemical",
        "化学原料和化学制品制造业",
        _w("化工 煤化工 精细化工 甲醇 化学"),
        _w("化工经销部"),
        6,
        (1000, 80000),
        ("610881", "610822", "610824", "610802"),
    ),
    Industry(
        "semicoke",
        "石油、煤炭及其他燃料加工业",
        _w("兰炭 焦化 煤焦 洁净煤"),
        _w("兰炭经销部"),
        5,
        (500, 30000),
        ("610881", "610822"),
    ),
    Industry(
        "energy",
        "电力、热力生产和供应业",
        _w("能源 电力 光伏 风电 新能源 热力 发电"),
        _w("电器维修部"),
        8,
        (1000, 100000),
        ("610825", "610824", "610881", "610802"),
    ),
    Industry(
        "gas",
        "燃气生产和供应业",
        _w("天然气 燃气 油气 能源"),
        _w("液化气站"),
        3,
        (500, 20000),
        ("610824", "610825", "610802"),
    ),
    Industry(
        "apple",
        "农业",
        _w("果业 苹果 果品 生态农业 林果"),
        _w("果品店 苹果批发部 水果店"),
        5,
        (50, 3000),
        ("610831", "610827", "610826", "610828", "610830"),
    ),
    Industry(
        "potato",
        "农业",
        _w("马铃薯 薯业 淀粉 种薯 农业科技"),
        _w("洋芋粉条店 马铃薯批发部 种子站"),
        4,
        (50, 5000),
        ("610825", "610824", "610802"),
    ),
    Industry(
        "sheep",
        "畜牧业",
        _w("羊业 牧业 畜牧 绒毛 羊肉食品 养殖"),
        _w("羊肉馆 羊杂碎馆 炖羊肉馆 羊肉铺 绒毛收购点"),
        6,
        (50, 5000),
        ("610803", "610825", "610824", "610802"),
    ),
    Industry(
        "tourism",
        "商务服务业",
        _w("旅游 文旅 文化旅游 旅行社 景区管理 文化传媒"),
        _w("旅馆 农家乐 客栈 照相馆"),
        5,
        (30, 5000),
        ("610827", "610828", "610802"),
    ),
    Industry(
        "trade",
        "批发业",
        _w("商贸 贸易 物资 商业 供应链 经贸"),
        _w(
            "超市 便利店 五金店 百货店 粮油店 副食店 烟酒店 日杂店 服装店 手机店 建材店 "
            "农资店 家电城 文具店"
        ),
        14,
        (10, 5000),
    ),
    Industry(
        "construction",
        "房屋建筑业",
        _w("建筑 建设 路桥 建筑工程 安装工程 市政工程 装饰工程"),
        _w("装饰部 水电安装部 门窗加工部"),
        10,
        (100, 20000),
    ),
    Industry(
        "transport",
        "道路运输业",
        _w("运输 物流 汽运 货运 客运 运业"),
        _w("货运部 物流点 汽车修理部 洗车行 轮胎店"),
        8,
        (50, 10000),
    ),
    Industry(
        "catering",
        "餐饮业",
        _w("餐饮 饮食 酒店管理 餐饮管理 食品"),
        _w(
            "饭店 面馆 洋芋擦擦店 饸饹店 烧烤店 小吃部 手工挂面店 豆腐坊 拼三鲜馆 "
            "剁荞面馆 火锅店 早餐店 包子铺 黄馍馍店 驴板肠店"
        ),
        10,
        (10, 2000),
    ),
    Industry(
        "services",
        "居民服务业",
        _w("家政服务 物业管理 信息咨询 广告 科技"),
        _w("理发店 美容店 打印部 裁缝店 开锁店 干洗店 家电维修部"),
        6,
        (10, 1000),
    ),
    Industry(
        "grain",
        "农副食品加工业",
        _w("小杂粮 米业 粮油 红枣 食品 农产品"),
        _w("小米店 杂粮店 红枣店 油坊"),
        4,
        (50, 3000),
        ("610827", "610828", "610826"),
    ),
)

ENTERPRISE_FORMS: tuple[tuple[str, int], ...] = (
    ("有限公司", 60),
    ("有限责任公司", 25),
    ("股份有限公司", 5),
    ("集团有限公司", 3),
    ("商行", 4),
    ("厂", 3),
)

# 百家姓 surnames weighted roughly by frequency in northern Shaanxi (陕北), per mille.
SURNAMES: tuple[tuple[str, int], ...] = tuple(
    (s, int(w))
    for s, w in (
        p.split(":")
        for p in _w(
            "王:70 李:60 张:60 刘:58 高:40 马:32 郭:30 杨:28 白:24 "
            "贺:22 冯:20 陈:18 赵:18 薛:14 崔:14 乔:12 苗:12 霍:12 "
            "惠:10 雷:10 艾:10 呼:8 拓:8 折:6 党:8 任:10 曹:10 杜:10 "
            "常:10 武:10 徐:10 孙:10 周:10 吴:8 黄:8 朱:8 胡:8 何:8 "
            "罗:6 韩:10 尚:6 姬:6 訾:3 师:5 闫:8 蔺:4 慕:4 梁:8 宋:8 "
            "田:8 康:8 柴:5 秦:5 温:5 袁:5 侯:6 史:6 魏:6 叶:4 牛:6 "
            "尤:4 许:6 邓:5 汪:3 范:5 钟:3 姚:5 谢:5 薄:3 郝:6 申:4 "
            "路:4 井:3 拓跋:1 欧阳:1 司马:1 上官:1 呼延:1"
        )
    )
)

# Given names: first and second characters by position (as names are actually formed), and
# single-character names.
MALE_FIRST = "建国志海俊晓文永子宇浩伟小玉明红卫军振德利兴治鹏家嘉锦瑞"
MALE_SECOND = "军强华明平东伟杰涛辉峰龙鹏飞刚斌波林成亮勇宇轩航博文虎忠民生荣军旺宝"
MALE_SINGLE = "伟强磊军平斌勇涛明波鹏飞刚杰浩亮峰龙宇东海华斌鑫超凯锋辉旭"
FEMALE_FIRST = "秀丽美晓雅佳欣玉春艳海静思雨梦子紫彩桂凤金银翠小慧淑"
FEMALE_SECOND = "英兰芳娟丽霞梅敏静燕红琴玲婷慧雪丹娜萍莉花琪怡妮蓉洁莲珍"
FEMALE_SINGLE = "芳娟丽霞艳梅敏静燕红琴玲婷慧雪丹娜英萍莉欣怡悦璐"

# Bureaus of a county government (and of the city, with 榆林市 prefix).
GOV_BUREAUS: tuple[str, ...] = _w(
    "人民政府办公室 发展和改革局 教育和体育局 科学技术局 工业和信息化局 公安局 民政局 司法局 "
    "财政局 人力资源和社会保障局 自然资源局 住房和城乡建设局 交通运输局 水利局 农业农村局 "
    "商务局 文化和旅游局 卫生健康局 退役军人事务局 应急管理局 审计局 市场监督管理局 统计局 "
    "医疗保障局 信访局 林业局 能源局 行政审批服务局 城市管理执法局 乡村振兴局 国有资产管理局"
)

# Public institutions of a county (prefixed by the county name).
COUNTY_INSTITUTIONS: tuple[str, ...] = _w(
    "人民医院 中医医院 妇幼保健院 疾病预防控制中心 第一中学 第二中学 第三中学 职业教育中心 "
    "图书馆 文化馆 档案馆 融媒体中心 社会保险经办中心 农业技术推广中心 畜牧兽医中心 "
    "水土保持工作站 林业工作站 城市管理综合执法大队 实验小学 实验幼儿园 特殊教育学校 "
    "公共就业服务中心 不动产登记中心 政务服务中心 综合检验检测中心 果业发展中心 博物馆"
)

# Public institutions of a town (prefixed by county and town names).
TOWN_INSTITUTIONS: tuple[str, ...] = _w(
    "中心小学 初级中学 卫生院 中心幼儿园 农业综合服务站 畜牧兽医站 便民服务中心 文化站"
)

CITY_INSTITUTIONS: tuple[str, ...] = _w(
    "榆林市第一医院 榆林市第二医院 榆林市中医医院 榆林市星元医院 榆林市妇幼保健院 榆林学院 "
    "榆林职业技术学院 榆林市第一中学 榆林中学 榆林市实验中学 榆林市图书馆 榆林市博物馆 "
    "榆林市档案馆 榆林市疾病预防控制中心 榆林市气象服务中心 榆林市广播电视台 榆林市第二中学 "
    "榆林市第三中学 榆林市第十二中学 榆林市体育运动学校 榆林市农业科学研究院 榆林市治沙研究所"
)

SOCIAL_FIELDS: tuple[str, ...] = _w(
    "煤炭行业 个体劳动者 私营企业 餐饮行业 旅游 果业 马铃薯产业 羊产业 红枣产业 小杂粮产业 "
    "建筑业 道路运输 物流 光伏产业 慈善 书法家 美术家 摄影家 作家 音乐家 老年体育 篮球 象棋 "
    "围棋 信鸽 钓鱼 秧歌 陕北民歌 剪纸 说书 青年企业家 女企业家 消费者 质量 诚信建设 "
    "养殖业 兰炭行业 化工行业 电力行业 天然气行业 家政服务 电子商务 汽车维修 婚庆"
)
SOCIAL_FORMS: tuple[str, ...] = _w("协会 协会 联合会 促进会 研究会")
ORIGIN_PLACES: tuple[str, ...] = _w(
    "浙江 温州 福建 河南 山西 江苏 四川 湖南 甘肃 宁夏 内蒙古 河北 山东 安徽 重庆 广东 江西 "
    "湖北 晋江 莆田 台州 宁波 天津 黑龙江 吉林 辽宁 新疆 青海 云南 贵州"
)
LEARNED_FIELDS: tuple[str, ...] = _w(
    "医学 护理 中医药 药学 会计 法学 教育 心理 农学 林学 地质 煤炭 水利 历史 民俗 治沙 "
    "园艺 营养 计算机 统计 口腔医学 数学 物理 化学 机械工程"
)

PNE_FORMS: tuple[str, ...] = _w(
    "培训学校 职业技能培训学校 幼儿园 养老院 老年公寓 康复中心 社会工作服务中心 艺术培训学校 "
    "驾驶员培训学校 托育中心 文化艺术中心 体育俱乐部"
)

ROAD_WORDS: tuple[str, ...] = _w(
    "人民路 新建路 长城路 榆溪大道 沙河路 肤施路 航宇路 明珠大道 建业路 驼峰路 文化路 上郡路 "
    "滨河路 东兴街 北大街 南大街 西大街 东大街 二街 兴业路 迎宾路 世纪大道 开发区大道 光明路 "
    "和平路 团结路 中山街 解放路 胜利路 新华路 红旗街 朝阳路 青年路 育才路"
)


def pick_weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    """One value from (value, weight) pairs."""
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def trade_name(rng: random.Random) -> str:
    """A trade name (字号): two auspicious characters, a fixed word or a place word."""
    roll = rng.random()
    if roll < 0.7:
        a, b = rng.sample(TRADE_CHARS, 2)
        return a + b
    if roll < 0.85:
        return rng.choice(TRADE_WORDS)
    return rng.choice(PLACE_WORDS)


def person_name(rng: random.Random, male: bool) -> str:
    """A Chinese personal name: weighted surname and one or two given-name characters."""
    if rng.random() < 0.25:
        given = rng.choice(MALE_SINGLE if male else FEMALE_SINGLE)
    elif male:
        given = rng.choice(MALE_FIRST) + rng.choice(MALE_SECOND)
    else:
        given = rng.choice(FEMALE_FIRST) + rng.choice(FEMALE_SECOND)
    if len(set(given)) < len(given) and rng.random() < 0.7:  # 丽丽 is rarer than 丽华
        given = given[0]
    return pick_weighted(rng, SURNAMES) + given


def enterprise_name(rng: random.Random, industry: Industry, county_code: str, city: bool) -> str:
    """An enterprise name: place + trade name + industry word + organisation form."""
    form = pick_weighted(rng, ENTERPRISE_FORMS)
    if form == "商行" and industry.key not in ("trade", "grain", "apple", "coal"):
        form = "有限公司"
    elif form == "厂" and industry.key not in ("semicoke", "grain", "potato", "chemical"):
        form = "有限责任公司"
    word = rng.choice(industry.words)
    trade = trade_name(rng)
    roll = rng.random()
    if city or roll < 0.2:
        place = "榆林市" if roll < 0.6 else "陕西"
    elif roll < 0.3:
        place = "陕西省"
    else:
        place = COUNTY_NAMES[county_code]
    if roll > 0.95 and form.endswith("公司"):
        return f"{trade}{word}（榆林）{form}"
    return f"{place}{trade}{word}{form}"


def shop_name(rng: random.Random, industry: Industry, county_code: str) -> str:
    """An individual business name such as "神木市小王羊肉馆" or "榆阳区鑫源超市"."""
    shop = rng.choice(industry.shops)
    surname = pick_weighted(rng, SURNAMES)
    roll = rng.random()
    if roll < 0.2:
        owner = rng.choice(("小", "老")) + surname
    elif roll < 0.35:
        owner = surname + rng.choice(("记", "家", "氏"))
    elif roll < 0.5:
        owner = person_name(rng, rng.random() < 0.6)
    else:
        owner = trade_name(rng)
    return f"{COUNTY_NAMES[county_code]}{owner}{shop}"


def cooperative_name(rng: random.Random, industry: Industry, county: str, place: str) -> str:
    """A cooperative name: county + town or village + product + 专业合作社."""
    product = {
        "apple": "苹果种植",
        "potato": "马铃薯种植",
        "sheep": rng.choice(("羊子养殖", "滩羊养殖")),
        "grain": rng.choice(("小杂粮种植", "红枣种植", "谷子种植")),
    }.get(industry.key, rng.choice(("蔬菜种植", "养殖", "农机服务", "中药材种植", "林果")))
    form = rng.choice(("专业合作社", "农民专业合作社", "专业合作社"))
    return f"{county}{place}{rng.choice(('', trade_name(rng)))}{product}{form}"


def social_group_name(rng: random.Random, county: str) -> str:
    """A social group: 协会/商会/学会 of the city or a county."""
    prefix = county if rng.random() < 0.45 else "榆林市"
    roll = rng.random()
    if roll < 0.55:
        return f"{prefix}{rng.choice(SOCIAL_FIELDS)}{rng.choice(SOCIAL_FORMS)}"
    if roll < 0.8:
        return f"{prefix}{rng.choice(ORIGIN_PLACES)}商会"
    return f"{prefix}{rng.choice(LEARNED_FIELDS)}学会"


def private_non_enterprise_name(rng: random.Random, county: str) -> str:
    """A private non-enterprise unit: 培训学校, 养老院, 幼儿园 … with a trade name."""
    return f"{county}{trade_name(rng)}{rng.choice(PNE_FORMS)}"


def village_stem(name: str) -> str:
    """Address form of a village committee name: "南关村委会" → "南关村"."""
    for suffix, repl in (
        ("社区居民委员会", "社区"),
        ("社区居委会", "社区"),
        ("村民委员会", "村"),
        ("村委会", "村"),
        ("居民委员会", "社区"),
        ("居委会", "社区"),
    ):
        if suffix in name:
            return name[: name.index(suffix)] + repl
    return name
