"""Penalty rules of the synthetic city: violations, legal bases, outcomes and fine ranges."""

from __future__ import annotations

from dataclasses import dataclass

from citycredit.subjects.model import SubjectType
from citycredit.synth.templates import Fit

ST = SubjectType
_SHOPS = (ST.enterprise, ST.individual_business)
_HEAVY = ("coal", "chemical", "semicoke", "energy", "gas")


@dataclass(frozen=True)
class Penalty:
    """A kind of violation: department, behaviour, legal basis, outcomes, fine range (万元)."""

    dept: str
    wfxw: str
    yj: str
    kinds: str  # outcomes with weights, e.g. "warn:2 fine:6 confiscate:1"
    fine: tuple[float, float]
    fit: Fit
    what: str = ""  # licence revoked / other measure


PENALTIES: tuple[Penalty, ...] = (
    Penalty(
        "scjg",
        "未取得食品经营许可从事食品经营活动",
        "《中华人民共和国食品安全法》第一百二十二条第一款",
        "fine:3 confiscate:2",
        (0.5, 10),
        Fit(_SHOPS, ("catering", "trade", "grain", "sheep")),
    ),
    Penalty(
        "scjg",
        "经营超过保质期的食品",
        "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项",
        "fine:5 revoke:1",
        (0.5, 5),
        Fit(_SHOPS, ("catering", "trade")),
        "食品经营许可证",
    ),
    Penalty(
        "scjg",
        "销售不合格产品",
        "《中华人民共和国产品质量法》第四十九条",
        "fine:3 confiscate:2",
        (0.2, 20),
        Fit(_SHOPS, ("trade", "construction", "grain")),
    ),
    Penalty(
        "scjg",
        "发布虚假广告",
        "《中华人民共和国广告法》第五十五条第一款",
        "fine:1",
        (2, 50),
        Fit((ST.enterprise,)),
    ),
    Penalty(
        "scjg",
        "不按规定明码标价",
        "《明码标价和禁止价格欺诈规定》第二十一条",
        "warn:3 fine:2",
        (0.05, 0.5),
        Fit(_SHOPS),
    ),
    Penalty(
        "scjg",
        "特种设备未经定期检验继续使用",
        "《中华人民共和国特种设备安全法》第八十四条第（一）项",
        "stop:2 fine:3",
        (3, 30),
        Fit((ST.enterprise,), (*_HEAVY, "construction")),
    ),
    Penalty(
        "scjg",
        "从事无照经营",
        "《无证无照经营查处办法》第十三条",
        "warn:2 fine:3",
        (0.05, 1),
        Fit((ST.individual_business,)),
    ),
    Penalty(
        "nync",
        "经营假农药",
        "《农药管理条例》第五十五条第一款第（一）项",
        "fine:2 confiscate:2",
        (0.5, 10),
        Fit((*_SHOPS, ST.farmer_cooperative), ("trade", "apple", "potato")),
    ),
    Penalty(
        "nync",
        "未按规定佩戴畜禽标识",
        "《中华人民共和国畜牧法》第八十七条",
        "warn:2 fine:1",
        (0.02, 0.2),
        Fit((ST.farmer_cooperative, ST.farm_household, ST.enterprise), ("sheep",)),
    ),
    Penalty(
        "nync",
        "未按规定使用兽药",
        "《兽药管理条例》第六十二条",
        "fine:1",
        (1, 5),
        Fit((ST.enterprise, ST.farmer_cooperative), ("sheep",)),
    ),
    Penalty(
        "jy",
        "民办学校违规发布招生简章",
        "《中华人民共和国民办教育促进法》第六十二条",
        "warn:2 confiscate:1",
        (0.5, 5),
        Fit((ST.private_non_enterprise,)),
    ),
    Penalty(
        "jy",
        "在职教师组织有偿补课",
        "《中小学教师违反职业道德行为处理办法》第四条",
        "warn:1",
        (0.1, 0.1),
        Fit(professions=("教师",)),
    ),
    Penalty(
        "sf",
        "律师私自接受委托、收取费用",
        "《中华人民共和国律师法》第四十八条第（一）项",
        "warn:2 fine:2 other:1",
        (0.5, 1),
        Fit(professions=("律师",)),
        "停止执业三个月",
    ),
    Penalty(
        "sf",
        "律师事务所违反规定接受委托",
        "《中华人民共和国律师法》第五十条第一款",
        "warn:1 fine:2",
        (1, 10),
        Fit(words=("律师事务所",)),
    ),
    Penalty(
        "wjw",
        "医师未按照注册的执业地点执业",
        "《中华人民共和国医师法》第五十七条",
        "warn:2 fine:1",
        (1, 3),
        Fit(professions=("医师",)),
    ),
    Penalty(
        "wjw",
        "使用非卫生技术人员从事医疗卫生技术工作",
        "《医疗机构管理条例》第四十七条",
        "fine:1",
        (0.5, 10),
        Fit(words=("医院", "卫生院", "康复")),
    ),
    Penalty(
        "wjw",
        "公共场所从业人员未取得有效健康合格证明",
        "《公共场所卫生管理条例实施细则》第三十八条",
        "warn:2 fine:2",
        (0.05, 0.2),
        Fit(_SHOPS, ("services", "tourism", "catering")),
    ),
    Penalty(
        "wl",
        "未经许可经营旅行社业务",
        "《中华人民共和国旅游法》第九十五条第一款",
        "fine:2 confiscate:1",
        (1, 10),
        Fit(_SHOPS, ("tourism",)),
    ),
    Penalty(
        "wl",
        "导游私自承揽导游业务",
        "《中华人民共和国旅游法》第一百零二条第二款",
        "fine:1",
        (0.1, 0.5),
        Fit(professions=("导游",)),
    ),
    Penalty(
        "wl",
        "娱乐场所接纳未成年人",
        "《娱乐场所管理条例》第四十八条",
        "fine:3 stop:1",
        (0.5, 1),
        Fit(_SHOPS, ("services",)),
    ),
    Penalty(
        "cz",
        "未依法设置会计账簿",
        "《中华人民共和国会计法》第四十二条第一款",
        "fine:1",
        (0.3, 5),
        Fit((ST.enterprise,)),
    ),
    Penalty(
        "cz",
        "注册会计师出具不实审计报告",
        "《中华人民共和国注册会计师法》第三十九条第二款",
        "warn:2 other:1",
        (0.1, 0.1),
        Fit(professions=("注册会计师",)),
        "暂停执行业务六个月",
    ),
    Penalty(
        "sw",
        "未按照规定期限办理纳税申报和报送纳税资料",
        "《中华人民共和国税收征收管理法》第六十二条",
        "fine:1",
        (0.02, 1),
        Fit(_SHOPS),
    ),
    Penalty(
        "sw",
        "进行虚假纳税申报少缴应纳税款",
        "《中华人民共和国税收征收管理法》第六十三条第一款",
        "fine:1",
        (5, 200),
        Fit((ST.enterprise,)),
    ),
    Penalty(
        "sw",
        "虚开增值税普通发票",
        "《中华人民共和国发票管理办法》第三十五条",
        "fine:1 confiscate:1",
        (5, 50),
        Fit((ST.enterprise,)),
    ),
    Penalty(
        "yj",
        "未按规定对从业人员进行安全生产教育和培训",
        "《中华人民共和国安全生产法》第九十七条第（三）项",
        "fine:1",
        (1, 10),
        Fit((ST.enterprise,), (*_HEAVY, "construction")),
    ),
    Penalty(
        "yj",
        "未采取措施消除事故隐患",
        "《中华人民共和国安全生产法》第一百零二条",
        "fine:3 stop:1",
        (5, 10),
        Fit((ST.enterprise,), (*_HEAVY, "construction")),
    ),
    Penalty(
        "yj",
        "煤矿超能力组织生产",
        "《煤矿安全生产条例》第七十一条",
        "stop:2 revoke:1",
        (50, 200),
        Fit((ST.enterprise,), ("coal",)),
        "安全生产许可证",
    ),
    Penalty(
        "sthj",
        "超过大气污染物排放标准排放大气污染物",
        "《中华人民共和国大气污染防治法》第九十九条第（二）项",
        "fine:3 stop:1",
        (10, 100),
        Fit((ST.enterprise,), _HEAVY),
    ),
    Penalty(
        "sthj",
        "建设项目环境影响报告书未经批准擅自开工建设",
        "《中华人民共和国环境影响评价法》第三十一条第一款",
        "fine:1",
        (5, 50),
        Fit((ST.enterprise,), (*_HEAVY, "construction")),
    ),
    Penalty(
        "sthj",
        "未按照国家有关规定贮存危险废物",
        "《中华人民共和国固体废物污染环境防治法》第一百一十二条第一款第（六）项",
        "fine:1",
        (10, 100),
        Fit((ST.enterprise,), ("chemical", "semicoke")),
    ),
    Penalty(
        "sthj",
        "施工工地未采取有效防尘降尘措施",
        "《中华人民共和国大气污染防治法》第一百一十五条",
        "fine:1",
        (1, 10),
        Fit((ST.enterprise,), ("construction",)),
    ),
    Penalty(
        "jt",
        "未取得道路运输经营许可擅自从事道路普通货物运输经营",
        "《中华人民共和国道路运输条例》第六十三条",
        "fine:2 confiscate:1",
        (1, 10),
        Fit((*_SHOPS, ST.natural_person), ("transport",)),
    ),
    Penalty(
        "jt",
        "车辆违法超限运输",
        "《公路安全保护条例》第六十四条",
        "fine:1",
        (0.05, 3),
        Fit(_SHOPS, ("transport", "coal")),
    ),
    Penalty(
        "jt",
        "道路运输车辆未按规定进行年度审验",
        "《道路货物运输及站场管理规定》第六十八条",
        "warn:2 fine:1",
        (0.1, 0.3),
        Fit(_SHOPS, ("transport",)),
    ),
)
# For subjects whose licence was revoked, and for minors (never published).
REVOKED = Penalty(
    "scjg",
    "公司成立后无正当理由超过六个月未开业",
    "《中华人民共和国公司法》第二百六十条第一款",
    "revoke:1",
    (0, 0),
    Fit((ST.enterprise,)),
    "营业执照",
)
RELIC = Penalty(
    "wl",
    "在文物保护单位的文物上刻划、涂污",
    "《中华人民共和国文物保护法》第六十六条第二款",
    "warn:2 fine:1",
    (0.005, 0.02),
    Fit((ST.natural_person,)),
)
