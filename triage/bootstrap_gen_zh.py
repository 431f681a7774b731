"""Deterministic generator of the Chinese bootstrap rows ``triage/data/bootstrap_zh_gen.jsonl``.

Run ``python -m triage.bootstrap_gen_zh`` to rewrite the file (pure stdlib, seeded, so the
output is byte-identical on every run). It is a development tool: nothing imports it at run
time.

Each row combines a hand-written *intent* (a core sentence for one industry and one request
type, following ``triage/data/GUIDELINE.md``) with slot values (products, apps, amounts, order
numbers), a phrasing wrapper (greeting, ``@客服`` mention, ``#话题#``, ``【】`` tag, emoji,
语气词, sign-off) and noise (homophone typos, exclamation runs, spacing, 繁體 conversion).
Wrappers and noise are drawn round-robin *per type*, so every type gets each of them equally
often and the classifier cannot learn a template artefact instead of the request itself.
"""

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from triage.hanzi import to_traditional

__all__ = ["generate", "main"]

SEED: Final = 20261202
PER_TYPE: Final = 1000
OUT: Final = Path(__file__).resolve().parent / "data" / "bootstrap_zh_gen.jsonl"

# --- industries: slot values ----------------------------------------------------------------

INDUSTRIES: Final[dict[str, dict[str, Sequence[str]]]] = {
    "ecommerce": {
        "at": ("@京东客服", "@淘宝", "@天猫", "@拼多多", "@唯品会客服", "@某宝小二"),
        "item": (
            "蓝牙耳机",
            "羽绒服",
            "运动鞋",
            "扫地机器人",
            "空气炸锅",
            "连衣裙",
            "行李箱",
            "面霜",
            "机械键盘",
            "保温杯",
            "儿童座椅",
            "台灯",
            "床垫",
            "手机壳",
        ),
        "app": ("App", "app", "APP", "小程序", "网页版"),
    },
    "food_delivery": {
        "at": ("@美团外卖", "@饿了么", "@美团客服", "@外卖平台"),
        "item": (
            "麻辣烫",
            "奶茶",
            "黄焖鸡米饭",
            "炸鸡",
            "披萨",
            "汉堡套餐",
            "轻食沙拉",
            "烤鱼",
            "煲仔饭",
            "咖啡",
        ),
        "app": ("App", "app", "外卖app", "小程序"),
    },
    "logistics": {
        "at": ("@顺丰速运", "@中通快递", "@圆通速递", "@京东物流", "@菜鸟", "@韵达快递", "@EMS"),
        "item": ("快递", "包裹", "文件", "生鲜包裹", "大件家具", "国际件"),
        "app": ("App", "小程序", "官网", "公众号"),
    },
    "telecom": {
        "at": ("@中国移动", "@中国联通", "@中国电信", "@10086", "@联通客服"),
        "item": ("宽带", "手机卡", "流量包", "副卡", "光猫", "5G套餐", "携号转网"),
        "app": ("营业厅App", "app", "网上营业厅", "公众号"),
    },
    "banking": {
        "at": ("@招商银行", "@工商银行", "@建设银行", "@支付宝", "@微信支付", "@银行客服"),
        "item": ("信用卡", "储蓄卡", "花呗", "转账", "理财产品", "房贷", "分期"),
        "app": ("手机银行", "App", "app", "网银"),
    },
    "insurance": {
        "at": ("@平安保险", "@中国人寿", "@太平洋保险", "@保险客服"),
        "item": ("车险", "医疗险", "重疾险", "意外险", "百万医疗", "退运险"),
        "app": ("App", "小程序", "官网"),
    },
    "travel": {
        "at": (
            "@携程",
            "@飞猪",
            "@去哪儿网",
            "@中国国航",
            "@东方航空",
            "@南方航空",
            "@12306",
            "@华住会",
            "@如家酒店",
        ),
        "item": ("机票", "酒店", "火车票", "航班", "跟团游", "民宿", "签证"),
        "app": ("App", "app", "小程序", "官网"),
    },
    "appliances": {
        "at": ("@海尔", "@美的", "@格力", "@小米客服", "@苏宁"),
        "item": ("空调", "冰箱", "洗衣机", "热水器", "燃气灶", "电视", "洗碗机", "油烟机"),
        "app": ("App", "智能家居app", "小程序"),
    },
    "automotive": {
        "at": ("@蔚来", "@比亚迪汽车", "@理想汽车", "@4S店", "@汽车客服"),
        "item": ("新车", "车机", "充电桩", "轮胎", "保养", "行车记录仪"),
        "app": ("App", "车机系统", "小程序"),
    },
    "education": {
        "at": ("@学而思", "@网课平台", "@新东方", "@猿辅导", "@驾校"),
        "item": ("网课", "直播课", "雅思课程", "考研班", "会员课", "练车课"),
        "app": ("App", "app", "学习App", "网页版"),
    },
    "gaming": {
        "at": ("@王者荣耀", "@原神", "@网易游戏", "@腾讯游戏", "@游戏客服"),
        "item": ("皮肤", "点券", "月卡", "账号", "装备", "战令"),
        "app": ("游戏", "客户端", "手游", "App"),
    },
    "saas": {
        "at": ("@钉钉", "@飞书", "@企业微信", "@云服务客服", "@石墨文档"),
        "item": ("企业版", "云服务器", "在线文档", "会议室", "API", "发票"),
        "app": ("客户端", "App", "后台", "控制台"),
    },
    "utilities": {
        "at": ("@国家电网", "@自来水公司", "@燃气公司", "@网上国网", "@物业"),
        "item": ("电费", "水费", "燃气费", "电表", "燃气表", "水表"),
        "app": ("网上国网app", "公众号", "App", "小程序"),
    },
    "healthcare": {
        "at": ("@健康160", "@医院挂号", "@好大夫在线", "@体检中心"),
        "item": ("专家号", "体检套餐", "在线问诊", "疫苗预约", "复诊"),
        "app": ("App", "小程序", "公众号", "挂号平台"),
    },
}

# --- intents: {industry: {type: [core sentences]}} ------------------------------------------
# Slots: {item} {app} {n} {days} {amount} {order} {time}

_GENERIC: Final[dict[str, Sequence[str]]] = {
    "consultation": (
        "请问{item}怎么收费",
        "想了解一下{item}有什么优惠",
        "{item}支持分期吗",
        "你们周末有人工客服吗",
        "请问{app}上在哪里能查到{item}的说明",
        "新用户有什么活动吗",
        "{item}和普通的有什么区别",
        "请问能开发票吗，怎么开",
        "想问下{item}最快多久能办好",
        "在线等，{item}需要带什么材料",
        "能不能用信用卡付款",
        "请问学生有没有折扣",
        "请问{item}可以转给家人用吗",
        "你们人工客服几点上班呀",
    ),
    "problem": (
        "{app}一打开就闪退",
        "{app}一直转圈加载不出来",
        "登录{app}提示系统繁忙请稍后再试",
        "验证码一直收不到",
        "付款的时候一直提示支付失败",
        "{app}更新之后打不开了",
        "页面一直报错，错误码{order}",
        "为什么我的{app}登不上去了",
        "密码明明是对的却提示密码错误",
        "账号被莫名其妙冻结了，登不上",
        "点提交没反应，卡在那里",
        "绑定手机号一直失败",
    ),
    "complaint": (
        "我要投诉你们的客服，态度太差了",
        "打了{n}次电话都没人解决，我要投诉",
        "你们这服务太差了，必须给我一个说法",
        "再不处理我就打12315投诉你们",
        "我要求赔偿，耽误了我{days}天",
        "客服一直踢皮球，叫你们领导出来",
        "我想反映一下你们工作人员的服务问题，希望严肃处理",
        "这是第{n}次了，我要求道歉和赔偿",
        "我要去消协投诉你们",
        "再这样我就发微博曝光你们",
        "你们的处理结果我不接受，要求升级投诉",
        "客服承诺回电结果没人打，给个说法",
    ),
    "after_sales": (
        "我要退货",
        "申请退款",
        "我的退款什么时候到账",
        "退款申请提交{days}天了，进度怎么查",
        "想换货，怎么操作",
        "麻烦帮我开一下这单的发票",
        "我的售后单{order}处理到哪一步了",
        "订单{order}能帮我退了吗",
        "退回去的东西你们收到了吗，什么时候退款",
        "之前申请的退款还没到账，帮我看看",
        "能帮我把这单取消退款吗",
    ),
}

_INTENTS: Final[dict[str, dict[str, Sequence[str]]]] = {
    "ecommerce": {
        "consultation": (
            "请问这款{item}有没有别的颜色",
            "{item}什么时候补货",
            "下单后一般几天发货",
            "拆了包装的{item}还能七天无理由退吗",
            "双十一{item}会降价吗",
            "{item}支持保价吗",
            "请问{item}是正品吗，有没有防伪",
            "满{amount}能用优惠券吗",
            "能不能指定快递发顺丰",
            "偏远地区包邮吗",
            "退货运费是谁出",
            "{item}的保修期是多久",
        ),
        "problem": (
            "下单时优惠券用不了，一直提示不满足条件",
            "{app}购物车里的东西突然全没了",
            "付款成功了订单却显示待付款",
            "收货地址改不了，一保存就报错",
            "搜索页面一直空白",
            "优惠券领了但是没到账",
            "订单详情页打不开，一直显示网络异常",
            "为什么我付不了款，银行卡是正常的",
            "{app}结算的时候卡住不动",
        ),
        "complaint": (
            "你们卖假货！{item}是假的，我要求假一赔十",
            "商家态度恶劣还骂人，我要投诉这个店",
            "说好的{days}天发货拖了半个月，必须赔偿",
            "客服机器人答非所问，根本找不到人，投诉",
            "虚假宣传，{item}跟详情页写的完全不一样，我要去12315举报",
            "仅退款被商家恶意拒绝，平台必须给个说法",
            "你们的小二处理不公，要求重新处理并道歉",
        ),
        "after_sales": (
            "收到的{item}坏了，要换一个新的",
            "{item}尺码不合适，申请退货",
            "{item}少发了一件，给我补发",
            "{item}用了{days}天就坏了，还在保修期，怎么维修",
            "订单{order}想退货退款，快递怎么寄回",
            "{item}颜色发错了，换货",
            "七天无理由退货，{item}已经寄回了，请尽快退款",
            "我买的{item}降价了，能退差价吗",
            "麻烦给{item}开个电子发票，订单号{order}",
        ),
    },
    "food_delivery": {
        "consultation": (
            "请问外卖满多少免配送费",
            "会员红包怎么领",
            "可以预订明天中午的{item}吗",
            "你们几点停止配送",
            "超时送达有赔付吗",
            "商家能开发票吗",
            "怎么成为骑手",
        ),
        "problem": (
            "{app}提交订单一直转圈",
            "{app}定位不准，地址选不了",
            "付款后订单一直显示待接单",
            "红包显示已领取，下单时却找不到",
            "下单时红包用不了",
            "{app}点餐页面一直闪退",
        ),
        "complaint": (
            "骑手态度恶劣还威胁我给好评，我要投诉",
            "{item}里吃出了头发，我要求赔偿",
            "超时{n}个小时，饭都凉透了，必须赔偿",
            "骑手把餐放门口就不管了还被偷，给个说法",
            "吃了你们家的{item}拉肚子，要求赔偿医药费",
            "商家私自取消订单还不退钱，投诉",
        ),
        "after_sales": (
            "{item}送错了，申请退款",
            "{item}洒了一半，申请部分退款",
            "少送了一份{item}，帮我补一下",
            "订单取消了钱什么时候退回来",
            "我的退款还没到账，订单{order}",
            "{item}漏送了饮料，退一下差价",
            # A delivery that has not arrived is about the customer's own order (guideline A).
            "订单显示已送达但我根本没收到",
            "骑手位置一直不动，{n}分钟了还没送到",
        ),
    },
    "logistics": {
        "consultation": (
            "寄{item}到北京要几天",
            "寄{n}公斤的{item}多少钱",
            "你们能寄国际件吗",
            "可以上门取件吗",
            "保价怎么收费",
            "易碎品能寄吗",
            "快递柜放多久会退回",
        ),
        "problem": (
            "查物流的页面一直报错",
            "{app}里的运单详情打不开",
            "快递柜扫码开不了柜门",
            "取件码收不到",
            "预约上门取件一直提交失败",
            "{app}下单寄件一直失败",
            "派送地址写错了，怎么改不了",
        ),
        "complaint": (
            "快递员不送上门还直接放驿站，我要投诉",
            "{item}被摔坏了，要求全额赔偿",
            "快递员态度恶劣，打电话还骂人，投诉",
            "延误了{days}天耽误我的事，必须赔偿损失",
            "未经同意代签收，我要投诉这个网点",
            "包裹丢了一个礼拜没人管，再不处理去邮政局投诉",
        ),
        "after_sales": (
            "我的{item}丢件了，申请理赔",
            "{item}破损了，理赔进度怎么样了",
            "寄错地址了，帮我把件退回",
            "理赔款什么时候到账",
            "多扣了运费，申请退款",
            "我保价的{item}坏了，申请理赔",
            # Late, stuck or "delivered" but not here: the customer's own shipment (guideline A).
            "单号{order}查不到物流信息",
            "物流{days}天没更新了",
            "显示已签收但我没收到",
            "快递一直在中转站不动",
            "包裹一直显示运输中，{days}天了还没到",
            "显示派送中，等了一天也没人送",
        ),
    },
    "telecom": {
        "consultation": (
            "现在有什么{item}套餐推荐",
            "携号转网需要什么条件",
            "{item}怎么办理",
            "国际漫游怎么收费",
            "套餐可以降档吗",
            "宽带提速要加多少钱",
            "副卡最多能办几张",
        ),
        "problem": (
            "家里宽带断网了，光猫红灯一直闪",
            "手机没信号，显示无服务",
            "话费充值了没到账",
            "{app}登录不了一直提示验证失败",
            "网速特别慢，测速只有{n}M",
            "流量用不了，上不了网",
            "无缘无故停机了，明明没欠费",
        ),
        "complaint": (
            "未经我同意给我开通了增值业务，乱扣费，我要投诉到工信部",
            "宽带断了{days}天没人来修，要求赔偿",
            "营业厅工作人员态度太差，我要投诉",
            "套餐被偷偷改了，必须退钱道歉",
            "打10086打了{n}次都没解决，转人工也不接，投诉",
            "销户还要我跑营业厅，这是故意刁难，投诉",
        ),
        "after_sales": (
            "光猫坏了，申请换一个",
            "多扣的话费{amount}元什么时候退",
            "宽带拆机了，押金怎么退",
            "上个月的话费发票帮我开一下",
            "新装宽带，约一下师傅上门安装",
            "退订的流量包退款到了没有",
        ),
    },
    "banking": {
        "consultation": (
            "{item}年费多少，怎么免",
            "跨行转账要手续费吗",
            "{item}怎么申请",
            "理财产品收益率是多少",
            "提前还房贷需要违约金吗",
            "境外消费有手续费吗",
            "{item}额度怎么提高",
        ),
        "problem": (
            "转账一直提示交易失败",
            "{app}登录提示证书过期",
            "银行卡被锁了，刷卡失败",
            "钱扣了但是对方没收到",
            "人脸识别一直不通过",
            "{app}打开就闪退，没法转账",
            "收不到动账短信",
        ),
        "complaint": (
            "乱扣我的年费还不给退，我要投诉到银保监",
            "催收电话打到我家人那里，严重骚扰，投诉",
            "柜员态度差还让我等了{n}个小时，投诉",
            "被强制搭售保险，要求退款并道歉",
            "我的钱被盗刷了你们不管，我要曝光",
            "客服推诿了{n}次，要求给个说法",
        ),
        "after_sales": (
            "{item}分期想提前结清，帮我办一下",
            "申请退还多收的手续费",
            "买的理财产品申请赎回",
            "卡片坏了申请补办",
            "退款退到{item}了吗，什么时候到账",
            "申请开具{item}的结清证明",
        ),
    },
    "insurance": {
        "consultation": (
            "{item}保什么，不保什么",
            "{item}一年多少钱",
            "有既往症能买{item}吗",
            "{item}等待期多久",
            "理赔需要准备哪些材料",
            "{item}可以随时退保吗",
        ),
        "problem": (
            "{app}上传理赔材料一直失败",
            "保单在{app}里查不到",
            "续保扣费失败了",
            "电子保单下载不了，一直报错",
            "{app}登不上去",
        ),
        "complaint": (
            "理赔拖了{n}个月还不赔，我要投诉到银保监会",
            "业务员夸大宣传误导我买{item}，要求全额退保",
            "拒赔理由根本不合理，必须给个说法",
            "推销电话一天打{n}个，严重骚扰，投诉",
        ),
        "after_sales": (
            "我要申请{item}理赔",
            "{item}申请退保",
            "理赔款什么时候到账",
            "保单信息写错了，申请批改",
            "我的理赔进度查一下，报案号{order}",
            "退保的钱怎么还没到",
        ),
    },
    "travel": {
        "consultation": (
            "{item}改签要手续费吗",
            "行李额是多少公斤",
            "酒店含早餐吗",
            "可以带宠物入住吗",
            "儿童票怎么买",
            "航班延误有补偿吗",
            "{item}能开发票吗",
            "签证大概多久出",
        ),
        "problem": (
            "选座一直失败",
            "{app}订单显示异常，付款了却没出票",
            "值机的时候系统报错",
            "{app}里的会员积分不见了",
            "酒店说查不到我的预订",
            "电子登机牌一直加载不出来",
        ),
        "complaint": (
            "航班延误{n}个小时没人解释也没安排，要求赔偿",
            "酒店房间跟图片完全不一样，我要投诉",
            "导游强制购物，我要投诉并要求退钱",
            "超售把我拒载了，必须赔偿并道歉",
            "前台态度极差，要给个说法",
            "大数据杀熟，同一间房价格差{amount}元，我要去曝光",
        ),
        "after_sales": (
            "{item}申请退票",
            "行程取消了，申请退款",
            "退票的钱什么时候到账",
            "行李托运时摔坏了，申请理赔",
            "订单{order}要开报销凭证",
            "民宿退订了押金还没退",
        ),
    },
    "appliances": {
        "consultation": (
            "{item}保修几年",
            "{item}包安装吗",
            "{item}以旧换新怎么算",
            "这款{item}耗电量大吗",
            "{item}的尺寸是多少",
            "{item}有没有节能补贴",
        ),
        "problem": (
            "{item}连不上{app}",
            "{item}显示故障码E{n}",
            "{item}遥控器没反应",
            "{app}里设备一直离线",
            "{item}突然不工作了，请问怎么回事",
            "{item}声音特别大，是哪里出了问题吗",
        ),
        "complaint": (
            "{item}修了{n}次还是坏的，要求退货并赔偿",
            "安装师傅乱收费还态度恶劣，投诉",
            "约好的上门维修放我鸽子{n}次了，给个说法",
            "{item}漏电差点出事，我要投诉并要求赔偿",
        ),
        "after_sales": (
            "{item}坏了，预约上门维修",
            "刚买的{item}要预约安装",
            "{item}不制冷了，在保修期内，安排维修",
            "{item}到货有划痕，申请换货",
            "维修单{order}什么时候上门",
            "{item}延保怎么激活",
        ),
    },
    "automotive": {
        "consultation": (
            "{item}多久需要保养一次",
            "试驾怎么预约",
            "{item}质保期多久",
            "家里能装{item}吗",
            "现在买车有什么优惠",
            "置换补贴怎么算",
        ),
        "problem": (
            "{item}黑屏了，重启也没用",
            "{app}连不上车",
            "{item}充不进电",
            "蓝牙连不上车机",
            "仪表盘报胎压故障",
            "导航一直定位不准",
        ),
        "complaint": (
            "4S店乱加项目多收钱，我要投诉",
            "新车有质量问题还不给换，我要曝光",
            "销售承诺的赠品不给了，要求兑现并道歉",
            "维修拖了{days}天车还没修好，要求赔偿代步费用",
        ),
        "after_sales": (
            "预约一下{item}",
            "{item}坏了，申请保修",
            "车漆有问题，申请质保维修",
            "召回的车什么时候能修",
            "维修单{order}进度怎么样了",
            "{item}需要更换，走质保",
        ),
    },
    "education": {
        "consultation": (
            "{item}适合几岁的孩子",
            "{item}有试听吗",
            "{item}可以分期吗",
            "老师是什么资质",
            "{item}一共多少节",
            "课程有效期多久",
        ),
        "problem": (
            "{item}视频一直卡顿播放不了",
            "{app}登录不上，提示账号异常",
            "直播间进不去",
            "作业提交一直失败",
            "买了课但是{app}里看不到",
            "回放没有声音",
        ),
        "complaint": (
            "承诺的提分根本没做到，虚假宣传，要求退款赔偿",
            "老师上课敷衍，我要投诉",
            "课程顾问天天电话骚扰，投诉",
            "退费一直拖着不给办，再拖我就去教育局投诉",
        ),
        "after_sales": (
            "{item}申请退费",
            "我的退费什么时候到账",
            "教材少寄了一本，帮我补寄",
            "{item}想转给别人，怎么办理",
            "{item}发票帮我开一下",
            "申请延长{item}有效期",
        ),
    },
    "gaming": {
        "consultation": (
            "{item}什么时候返场",
            "未成年怎么充值",
            "{item}可以赠送好友吗",
            "活动什么时候结束",
            "怎么换绑手机号",
            "{item}能转区吗",
        ),
        "problem": (
            "充值成功了{item}没到账",
            "{app}一进就闪退",
            "账号登不上，提示异常",
            "匹配一直卡在加载界面",
            "更新完{app}一直黑屏",
            "组队时掉线严重",
        ),
        "complaint": (
            "账号被误封，申诉{n}次都是机器人回复，要求人工处理并道歉",
            "抽卡概率造假，我要投诉到消协",
            "外挂这么多你们不管，我要投诉",
            "无故扣我{item}，给个说法",
        ),
        "after_sales": (
            "误充了{item}，申请退款",
            "未成年误充值，申请退款",
            "{item}买重复了能退吗，订单{order}",
            "充值的退款进度查一下",
        ),
    },
    "saas": {
        "consultation": (
            "{item}怎么收费",
            "{item}支持私有化部署吗",
            "有没有教育优惠",
            "{item}最多支持多少人",
            "API有调用次数限制吗",
            "试用期多长",
        ),
        "problem": (
            "{app}同步失败，报错{order}",
            "{app}登录后白屏",
            "调用API返回500",
            "文件上传一直失败",
            "会议中途总是掉线",
            "消息通知收不到了",
            "导出报表一直转圈",
        ),
        "complaint": (
            "服务宕机{n}个小时影响我们业务，要求按SLA赔偿",
            "工单提了{n}天没人回，投诉你们的技术支持",
            "续费前没通知就自动扣款，要求退款并给个说法",
            "销售承诺的功能根本没有，要求赔偿",
        ),
        "after_sales": (
            "{item}续费发票帮我开一下",
            "多扣了一年的费用，申请退款",
            "{item}降级后差价怎么退",
            "申请退订{item}并退款",
            "合同和发票寄一下，订单号{order}",
        ),
    },
    "utilities": {
        "consultation": (
            "{item}怎么在网上交",
            "阶梯电价怎么算",
            "过户需要什么材料",
            "峰谷电怎么申请",
            "停电通知在哪里看",
            "{item}可以开发票吗",
        ),
        "problem": (
            "家里突然停电了，邻居都有电",
            "交了{item}但是没到账",
            "{item}读数不对，明显偏高",
            "燃气灶打不着火，是不是没气了",
            "水龙头出来的水发黄",
            "{app}绑定户号失败",
        ),
        "complaint": (
            "无通知停水{n}天，要求给个说法",
            "抄表员估抄多收费，我要投诉",
            "报修{n}次没人来，我要打12345投诉",
            "乱收费，必须退钱并公开道歉",
        ),
        "after_sales": (
            "{item}多交了，申请退费",
            "预约燃气安装",
            "{item}坏了，申请更换",
            "维修工单{order}什么时候上门",
            "销户后预存的钱怎么退",
        ),
    },
    "healthcare": {
        "consultation": (
            "{item}怎么预约",
            "{item}可以用医保吗",
            "专家周几出诊",
            "{item}需要空腹吗",
            "线上问诊能开处方吗",
            "体检报告多久出",
        ),
        "problem": (
            "挂号付款后显示失败",
            "{app}预约页面一直加载不出来",
            "收不到就诊提醒短信",
            "报告在{app}上查不到",
            "实名认证一直失败",
        ),
        "complaint": (
            "医生态度冷漠，问诊敷衍，我要投诉",
            "号贩子横行你们不管，投诉",
            "等了{n}个小时还没叫号，给个说法",
            "体检漏项还收全款，要求退钱道歉",
        ),
        "after_sales": (
            "{item}取消了，申请退款",
            "挂号费什么时候退回来",
            "{item}要改约时间",
            "体检发票帮我开一下",
            "问诊没回复，申请退款，订单{order}",
        ),
    },
}

# A fault (any industry's problem intent) plus a demand for accountability is a complaint
# (guideline rule 1); the same fault with anger but only a demand to fix it stays a problem
# (rule 2). Some rows of both types are composed this way, so the demand decides, not the fault.
_ACCOUNTABILITY: Final = (
    "，必须赔偿",
    "，你们得赔钱",
    "，要求赔偿损失",
    "，给个说法",
    "，我要投诉",
    "，我要投诉你们",
    "，再不解决我就打12315",
    "，已经找了{n}次都没人管，投诉",
    "，耽误我{days}天，赔钱",
    "，我要去消协投诉",
    "，等着被曝光吧",
    "，叫你们领导出来",
    "，必须道歉",
    "，要求退一赔三",
    "，已经第{n}次了，太过分了，要赔偿",
    "，客服还爱答不理的，投诉你们",
)
# Venting at the company with no fix asked for: a complaint (guideline C, "public venting"),
# where the same fault with a request to fix it is a problem (rule 2, ``_FIX_IT``).
_VENTING: Final = (
    "，以后再也不买了",
    "，再也不会来了",
    "，什么破服务",
    "，太失望了",
    "，差评",
    "，真是垃圾",
    "，坑人",
    "，这就是你们的服务？",
    "，无语，拉黑了",
    "，再也不用你们家了",
    "，越来越差了",
    "，以后不会再选你们了",
    "，果断差评",
    "，服务太烂了",
    "，已经卸载了",
    "，账号注销，换别家",
    "，劝大家别买",
    "，什么破平台",
    "，取关了",
    "，以后绕道走",
    "，真是够了，不推荐",
    "，心寒",
)
_FIX_IT: Final = (
    "，赶紧修好",
    "，快点处理",
    "，烦死了，怎么弄",
    "，急用，帮忙看看",
    "，到底怎么回事",
    "，能不能修一下",
    "，垃圾，快修",
    "，气死了，麻烦尽快修复",
    "，又来了，赶紧解决",
    "，请问怎么解决",
    "，帮我看看是什么原因",
    "，已经重启过了还是不行",
)
# After-sales progress on one's own purchase (a question in form, after-sales in substance).
_PROGRESS: Final = (
    "我的退款到哪一步了",
    "退款显示已退回但是钱没收到",
    "退款说原路返回，几天能到",
    "寄回去的{item}签收了吗，退款什么时候处理",
    "我的维修进度怎么查",
    "换货的新{item}发出来了没",
    "售后单{order}怎么一直没动静",
    "申请退款{days}天了还在审核中",
    "退款审核通过了吗",
    "{item}返修寄过去{days}天了，修好了吗",
    "补发的{item}发货了吗",
    "发票开好了吗，发我邮箱",
    "退的钱到我卡上没有，怎么查",
    "保修申请提交了，什么时候有人联系我",
)

# --- wrappers and noise (type-neutral) -------------------------------------------------------

_OPENERS: Final = (
    "",
    "",
    "",
    "你好，",
    "您好，",
    "在吗？",
    "亲，",
    "客服你好，",
    "请问一下，",
    "麻烦问下，",
    "hello，",
    "hi ",
    "那个，",
    "打扰一下，",
    "急！",
    "在线等，",
    "姐妹们，",
    "有人吗？",
    "我想说一下，",
    "我跟你们说，",
    "唉，",
    "【求助】",
    "【急】",
    "【反馈】",
)
_CLOSERS: Final = (
    "",
    "",
    "",
    "，谢谢",
    "，谢谢！",
    "，麻烦了",
    "，急",
    "，在线等",
    "，尽快回复",
    "。",
    "？",
    "！",
    "！！",
    "！！！",
    "～",
    "啊",
    "呀",
    "哈",
    "呢",
    "吧",
    "。。。",
    "😭",
    "😡",
    "🙏",
    "[微笑]",
    "[抓狂]",
    "[怒]",
    "[哭]",
    "，求回复",
    "，急急急",
    "？？？",
    " 🙏🙏",
    "，麻烦看一下私信",
    "，私信你们了",
)
_CHANNEL: Final = (
    "none",
    "none",
    "none",
    "at",
    "at",
    "topic",
    "at_topic",
    "bracket_industry",
)
_TOPICS: Final[dict[str, Sequence[str]]] = {
    "ecommerce": ("#网购#", "#双十一#", "#618#", "#购物#"),
    "food_delivery": ("#外卖#", "#点外卖#"),
    "logistics": ("#快递#", "#物流#"),
    "telecom": ("#运营商#", "#宽带#", "#手机卡#"),
    "banking": ("#银行#", "#信用卡#", "#支付#"),
    "insurance": ("#保险#", "#理赔#"),
    "travel": ("#出行#", "#机票#", "#酒店#", "#旅行#"),
    "appliances": ("#家电#", "#装修#"),
    "automotive": ("#新能源车#", "#汽车#"),
    "education": ("#网课#", "#教育#"),
    "gaming": ("#游戏#", "#手游#"),
    "saas": ("#办公#", "#云服务#"),
    "utilities": ("#生活缴费#", "#民生#"),
    "healthcare": ("#挂号#", "#看病#"),
}
_INDUSTRY_TAG: Final[dict[str, str]] = {
    "ecommerce": "网购",
    "food_delivery": "外卖",
    "logistics": "快递",
    "telecom": "通信",
    "banking": "银行",
    "insurance": "保险",
    "travel": "出行",
    "appliances": "家电",
    "automotive": "汽车",
    "education": "教育",
    "gaming": "游戏",
    "saas": "办公软件",
    "utilities": "生活缴费",
    "healthcare": "医疗",
}
# Context clauses prepended to the core sentence (type-neutral background).
_CONTEXT: Final = (
    "",
    "",
    "",
    "",
    "",
    "上周在你们这买的，",
    "昨天晚上，",
    "我是老用户了，",
    "帮家里老人问的，",
    "用了{days}天了，",
    "订单号{order}，",
    "我的手机号{phone}，",
    "今天早上{time}左右，",
    "刚才，",
    "早上，",
    "我是{name}，",
    "{name}，手机尾号{n4}，",
    "同事推荐来的，",
)
_NAMES: Final = (
    "张伟",
    "李娜",
    "王芳",
    "刘洋",
    "陈静",
    "欧阳娜娜",
    "赵磊",
    "孙丽",
    "周杰",
    "吴敏",
    "郑爽",
    "马超",
    "林小姐",
    "黄先生",
    "何女士",
)
# Homophone / common typos (applied to some rows of every type).
_TYPOS: Final = (
    ("已经", "以经"),
    ("账", "帐"),
    ("在", "再"),
    ("的", "得"),
    ("吗", "嘛"),
    ("怎么", "咋"),
    ("什么", "啥"),
    ("登录", "登陆"),
    ("款", "欵"),
    ("号", "好"),
    ("没有", "木有"),
    ("知道", "造"),
    ("怎么样", "肿么样"),
    ("一下", "一哈"),
    ("客服", "kf"),
)
_NOISE: Final = ("none", "none", "none", "typo", "space", "traditional", "traditional", "bang")


def _slots(rng: random.Random, industry: str) -> dict[str, str]:
    values = INDUSTRIES[industry]
    order = rng.choice(
        (
            f"ORD{rng.randint(10**8, 10**9 - 1)}",
            str(rng.randint(10**14, 10**15 - 1)),
            f"{rng.choice('ABCDEFGHJKMNPQRSTWXYZ')}{rng.randint(10**5, 10**7)}",
            f"SF{rng.randint(10**11, 10**12 - 1)}",
        )
    )
    return {
        "item": rng.choice(values["item"]),
        "app": rng.choice(values["app"]),
        "n": str(rng.choice((2, 3, 4, 5, 6, 8, 10, 20))),
        "days": str(rng.choice((2, 3, 5, 7, 10, 15, 30))),
        "amount": str(rng.choice((29, 50, 99, 128, 199, 300, 1299, 2680))),
        "order": order,
        "time": f"{rng.randint(6, 23)}点",
        "phone": f"1{rng.choice('3578')}{rng.randint(10**8, 10**9 - 1)}",
        "name": rng.choice(_NAMES),
        "n4": str(rng.randint(1000, 9999)),
    }


def _cycle(rng: random.Random, options: Sequence[str]) -> Callable[[], str]:
    """Round-robin over ``options`` in shuffled cycles (even counts, no fixed order)."""
    pool: list[str] = []

    def draw() -> str:
        if not pool:
            pool.extend(options)
            rng.shuffle(pool)
        return pool.pop()

    return draw


def _noise(rng: random.Random, kind: str, text: str) -> str:
    if kind == "typo":
        candidates = [(a, b) for a, b in _TYPOS if a in text]
        if candidates:
            a, b = rng.choice(candidates)
            return text.replace(a, b, 1)
        return text
    if kind == "space":
        return text.replace("，", " ").replace("。", " ")
    if kind == "traditional":
        return to_traditional(text)
    if kind == "bang":
        return text.rstrip("。！？，") + rng.choice(("！！！", "!!!!", "？？！", "!!!!!!"))
    return text


def _sentence_draws(rng: random.Random) -> dict[str, Callable[[], str]]:
    """Fresh round-robin draws of the wrappers :func:`_row` puts around a sentence."""
    return {
        "opener": _cycle(rng, _OPENERS),
        "closer": _cycle(rng, _CLOSERS),
        "channel": _cycle(rng, _CHANNEL),
        "context": _cycle(rng, _CONTEXT),
        "noise": _cycle(rng, _NOISE),
    }


def _row(
    rng: random.Random, category: str, industry: str, core: str, draws: dict[str, Callable[[], str]]
) -> str:
    slots = _slots(rng, industry)
    context = draws["context"]().format(**slots)
    body = context + core.format(**slots)
    text = draws["opener"]() + body + draws["closer"]()
    channel = draws["channel"]()
    if channel == "at":
        text = f"{rng.choice(INDUSTRIES[industry]['at'])} {text}"
    elif channel == "topic":
        text = f"{rng.choice(_TOPICS[industry])}{text}"
    elif channel == "at_topic":
        text = f"{rng.choice(_TOPICS[industry])} {rng.choice(INDUSTRIES[industry]['at'])} {text}"
    elif channel == "bracket_industry":
        text = f"【{_INDUSTRY_TAG[industry]}】{text}"
    return _noise(rng, draws["noise"](), text).strip()


# --- terse messages: what people type into a chat box ----------------------------------------
# Half of what customers type into a chat window is a few characters long (取消订单, 退款进度,
# 登录不了, 垃圾服务); the sentences above hardly ever are. Same type rules as everywhere:
# a bare policy question is a consultation, a bare action on one's own order after-sales.
_TERSE: Final[dict[str, Sequence[str]]] = {
    "consultation": (
        "{item}多少钱",
        "{item}怎么收费",
        "{item}有货吗",
        "{item}是正品吗",
        "{item}保质期多久",
        "有优惠吗",
        "有没有优惠券",
        "新人有优惠吗",
        "支持分期吗",
        "能货到付款吗",
        "包邮吗",
        "发什么快递",
        "一般几天能到",
        "几天发货",
        "有没有大一号的",
        "退货政策是什么",
        "保修多久",
        "支持七天无理由吗",
        "怎么注册",
        "怎么下单",
        "在哪里买",
        "能开发票吗",
        "能开专票吗",
        "人工客服几点上班",
        "客服电话多少",
        "会员有什么权益",
        "怎么成为会员",
        "积分怎么用",
        "哪款适合我",
        "支持花呗吗",
        "可以用微信支付吗",
        "门店在哪",
        "营业时间是几点",
        "能寄到国外吗",
        "怎么加盟",
        "{item}怎么用",
        "{app}在哪下载",
        "下单后能改地址吗",
        "订单可以取消吗",
        "退款一般几天到",
        "有没有学生价",
        "我想买{item}",
        "推荐一款{item}",
        "想咨询一下{item}",
        "怎么给好评",
        "想提个建议",
    ),
    "problem": (
        "登录不了",
        "登不上去",
        "账号被锁了",
        "收不到验证码",
        "验证码一直不来",
        "支付失败",
        "付款失败",
        "扣了钱订单没生成",
        "扣款两次",
        "重复扣款了",
        "{app}打不开",
        "{app}闪退",
        "{app}一直报错",
        "页面打不开",
        "网页加载不出来",
        "优惠券用不了",
        "下不了单",
        "提交不了订单",
        "积分没到账",
        "余额显示不对",
        "提现失败",
        "提现一直没到账",
        "充值没到账",
        "绑不了卡",
        "改不了手机号",
        "实名认证失败",
        "宽带断了",
        "信号很差",
        "二维码扫不了",
        "密码重置不了",
        "{app}卡住了",
        "付不了款",
        "登录一直转圈",
        "{app}显示系统错误",
        "{item}用不了",
        "{item}连不上",
        "无法提现",
        "无法登录",
    ),
    "complaint": (
        "垃圾服务",
        "什么破服务",
        "服务太差了",
        "态度太差",
        "客服态度差",
        "我要投诉",
        "投诉你们",
        "怎么投诉",
        "投诉快递员",
        "投诉客服",
        "投诉你们师傅",
        "要求赔偿",
        "必须给个说法",
        "再也不买了",
        "骗子公司",
        "太坑了",
        "坑人",
        "我要曝光你们",
        "我要打12315",
        "找消协去",
        "叫你们领导来",
        "找你们经理",
        "电话一直打不通，什么意思",
        "给差评",
        "一星差评",
        "失望透了",
        "欺骗消费者",
        "虚假宣传",
        "你们就是骗子",
        "等了{days}天没人管，太过分了",
        "没人理我是吧",
        "我要举报你们",
    ),
    "after_sales": (
        "取消订单",
        "帮我取消订单",
        "我要取消订单{order}",
        "订单取消一下",
        "我要退货",
        "申请退货",
        "我要退款",
        "退款进度",
        "退款什么时候到账",
        "退款到哪了",
        "我要换货",
        "换个尺码",
        "我的快递到哪了",
        "物流到哪了",
        "查一下物流",
        "怎么还没发货",
        "什么时候发货",
        "快递{days}天没动了",
        "订单{order}到哪了",
        "改一下收货地址",
        "修改地址",
        "帮我开个发票",
        "发票开一下",
        "{item}要维修",
        "{item}坏了要保修",
        "退货寄哪里",
        "上门取件没来",
        "取消自动续费",
        "帮我退订会员",
        "催一下发货",
        "催单",
        "我买的{item}想退",
        "{item}能换一个吗",
        "订单{order}帮我退款",
        "补发一下",
        "帮我查下订单",
        "订单状态",
        "发货了吗",
        "退货运单号填哪",
    ),
}
_TERSE_OPENERS: Final = ("", "", "", "", "你好，", "在吗？", "客服，", "喂，", "你好 ", "亲，")
_TERSE_CLOSERS: Final = ("", "", "", "", "？", "谢谢", "，急", "！！", "，在线等", "??")
PER_TYPE_TERSE: Final = 300


def _distinct(
    category: str,
    count: int,
    seen: set[str],
    draw: Callable[[], tuple[str, str]],
) -> list[dict[str, str]]:
    """``count`` rows of ``category`` whose text (from ``draw() -> (industry, text)``) is not
    in ``seen`` yet; adds them to ``seen``."""
    rows: list[dict[str, str]] = []
    attempts = 0
    while len(rows) < count:
        attempts += 1
        if attempts > count * 40:
            raise RuntimeError(f"cannot make {count} distinct {category} rows")
        industry, text = draw()
        if text in seen:
            continue
        seen.add(text)
        rows.append({"text": text, "category": category, "lang": "zh", "industry": industry})
    return rows


def _terse_rows(rng: random.Random, seen: set[str]) -> list[dict[str, str]]:
    """``PER_TYPE_TERSE`` distinct terse rows per type, with an opener/closer and noise drawn
    alike for every type."""
    rows: list[dict[str, str]] = []
    industries = list(INDUSTRIES)
    for category, cores in _TERSE.items():
        draws = {
            "opener": _cycle(rng, _TERSE_OPENERS),
            "closer": _cycle(rng, _TERSE_CLOSERS),
            "noise": _cycle(rng, _NOISE),
        }

        def draw(
            cores: Sequence[str] = cores, draws: dict[str, Callable[[], str]] = draws
        ) -> tuple[str, str]:
            industry = rng.choice(industries)
            core = rng.choice(cores).format(**_slots(rng, industry))
            text = _noise(rng, draws["noise"](), draws["opener"]() + core + draws["closer"]())
            return industry, text.strip()

        rows += _distinct(category, PER_TYPE_TERSE, seen, draw)
    rng.shuffle(rows)
    return rows


# --- held services: accounts, plans, policies ------------------------------------------------
# Banks, insurers, carriers and utilities are asked about what the customer holds: 销户, 改套餐,
# 对账单, 扣款成功了吗. Guideline G: changing, cancelling, claiming on or getting papers for what
# one holds is after-sales; new business, quotes and one's own figures are consultation; a
# charge one did not make or a password one cannot use is a problem.
_HELD: Final[dict[str, tuple[str, Sequence[str]]]] = {
    "consultation": (
        "banking insurance telecom",
        (
            "我想给我的车买份车险，帮我报个价",
            "想了解一下你们的重疾险，每年保费多少",
            "我想在你们银行开个储蓄账户，需要带什么",
            "小微企业贷款怎么申请，利率多少",
            "想办一张信用卡，有哪些卡可以选",
            "离我最近的网点在哪里，周末营业吗",
            "附近有没有能存现金的ATM",
            "美元兑人民币今天汇率多少",
            "跨行转账一般多久到账",
            "帮我查一下我卡里的余额",
            "我这个月信用卡要还多少钱",
            "我想看一下最近的交易明细",
            "我的保单号是多少，忘记了",
            "你们现在有什么流量套餐，学生有优惠吗",
            "宽带新装一年多少钱",
            "每天最多能取多少现金",
        ),
    ),
    "problem": (
        "banking insurance telecom utilities",
        (
            "我卡里有一笔{amount}元的消费不是我本人操作的",
            "信用卡被盗刷了{amount}元，赶紧帮我处理",
            "账单上多扣了我{amount}元，麻烦核实一下",
            "同一笔费用扣了两次，帮我退一下多扣的",
            "我忘记登录密码了，重置也收不到验证码",
            "密码忘了进不去账户，怎么重置",
            "手机银行密码输错被锁了，登不上",
            "我已经缴费了但系统还显示欠费",
            "没开通过的业务每个月都在扣钱",
            "感觉我的账户被盗了，有陌生设备登录",
        ),
    ),
    "complaint": (
        "banking insurance telecom utilities",
        (
            "理赔拖了{n}个月没人管，我要投诉你们的理赔员",
            "你们不经同意就乱收费，必须退钱并道歉",
            "营业厅工作人员态度恶劣，我要投诉",
            "这是第{n}次账单出错了，再不解决我就投诉到工信部",
            "银行乱扣年费还不讲理，我要向银保监会投诉",
            "套餐偷偷涨价也不通知，什么垃圾公司，要求赔偿",
            "我要正式投诉你们的客户经理，一直误导我",
        ),
    ),
    "after_sales": (
        "banking insurance telecom utilities saas",
        (
            "我想把这个储蓄卡销户，余额转到别的卡",
            "帮我注销一下这个账户，以后不用了",
            "我要把现在的套餐改成便宜一点的",
            "下个月开始帮我换成{amount}元的套餐",
            "我的车险想申请理赔，昨天出了个小事故",
            "家里被水淹了，我要报案理赔",
            "帮我取消一下自动扣费，不想续了",
            "我想把保费改成按月交",
            "麻烦把我近{n}个月的银行流水发我邮箱",
            "我需要一份对账单给会计",
            "帮我开一份保单证明，单位要用",
            "我想在保单上加一个被保险人，我老婆",
            "上个月的话费交上了吗，查一下扣款成功没",
            "我昨天转的那笔还款到账了吗",
            "我要退保，这份保险不需要了",
        ),
    ),
}
PER_TYPE_HELD: Final = 150


def _held_rows(rng: random.Random, seen: set[str]) -> list[dict[str, str]]:
    """``PER_TYPE_HELD`` distinct held-service rows per type, wrapped like the sentences above."""
    rows: list[dict[str, str]] = []
    for category, (industries, cores) in _HELD.items():
        draws = _sentence_draws(rng)

        def draw(
            category: str = category,
            industries: str = industries,
            cores: Sequence[str] = cores,
            draws: dict[str, Callable[[], str]] = draws,
        ) -> tuple[str, str]:
            industry = rng.choice(industries.split())
            return industry, _row(rng, category, industry, rng.choice(cores), draws)

        rows += _distinct(category, PER_TYPE_HELD, seen, draw)
    rng.shuffle(rows)
    return rows


# --- an order already placed: when, where, what went wrong --------------------------------------
# In a shop's chat most turns are about an order the customer has already placed, asked as a
# question: 这得多久能到, 能不能上午送, 地址写错了, 东西还没收到, 刚买就降价了. Guideline A: that is
# after-sales however it is asked; the same question before ordering (一般几天到, 下单后还能改地址
# 吗) is a consultation. The problem and complaint rows are about the same orders, so the order
# words alone do not decide the type.
_OWN_ORDER: Final[dict[str, Sequence[str]]] = {
    "consultation": (
        "下单后一般几天能到",
        "现在下单的话什么时候能送到",
        "你们周末也送货吗",
        "下单的时候可以指定送货时间吗",
        "可以自己去配送站自提吗",
        "下单以后还能改收货地址吗",
        "如果买错了尺码，一般怎么处理",
        "买了以后降价的话能保价吗",
        "发票一般下单后多久开出来",
        "偏远地区大概几天能送到",
        "今天下单明天能发货吗",
        "{item}从哪个仓库发货",
        "能不能送货上门，还是只能放驿站",
        "货到付款可以先验货吗",
        "下单后多久可以取消",
        "退款一般原路退回吗",
    ),
    "problem": (
        "想改收货地址，点修改一直提示系统繁忙",
        "订单页面打不开，看不到物流信息",
        "取消订单的按钮是灰的，点不了",
        "申请退款一直提交失败，提示网络错误",
        "{app}里我的订单列表突然是空的",
        "付了款订单却没生成",
        "填退货单号的时候一直报错",
        "修改手机号的时候验证码一直收不到",
        "申请保价的页面点了没反应",
        "{app}一打开订单详情就闪退",
        "物流页面一直刷新不出来",
        "预约安装的页面一直报错",
    ),
    "complaint": (
        "我的订单拖了{days}天还没到，必须给个说法",
        "地址是你们客服改错的，要求道歉并赔偿",
        "说好今天送到又没到，已经第{n}次了，我要投诉",
        "刚买就降价还不给保价，欺骗消费者，我要投诉到12315",
        "东西没收到就显示签收，快递员乱签，我要投诉他",
        "退货{days}天了钱还没退，再不处理我就找消协",
        "少发了东西找客服三次都没人管，太过分了，要求赔偿",
        "配送员不送上门还骂人，给个说法",
    ),
    "after_sales": (
        "我昨天下的单什么时候能到",
        "我的{item}什么时候能送到",
        "这个订单还要多久才能到",
        "这得多久能到啊",
        "能不能{days}号再给我送",
        "能不能上午安排配送",
        "明天我不在家，能不能改到后天送",
        "快递员什么时候来取件",
        "怎么还不配送，帮我催一下",
        "我自己去配送站取可以吗",
        "订单地址写错了，帮我改一下",
        "下单的时候收货电话留错了一位",
        "颜色选错了，想换成黑色的",
        "我买错了，能换成大一码的吗",
        "商品还没收到",
        "东西都没收到",
        "订单显示已完成，但是东西没收到",
        "少发了一个配件",
        "刚买就降价了，能退差价吗",
        "怎么我昨天买的比今天贵了{amount}",
        "我的发票什么时候寄过来",
        "订单{order}能不能先别发货",
        "刚下的单下错了，帮我取消",
        "{item}到了但是没有说明书",
        "我{days}号之前能收到吗",
        "下午公司没人，会不会收不到",
        "物流一直没更新",
        "快递一直没送过来",
        "今天又没到",
        "还有一件没到",
        "是不是放快递柜了，一直没收到通知",
        "快递员电话打不通，东西一直没送",
        "说好今天到的，怎么没到",
        "这单怎么申请价保",
        "买的{item}到了，怎么预约安装",
        "这单能退差价吗",
        # Bare, as chat turns are: "it" is the order they placed (guideline F).
        "什么时候能送到",
        "请问大概哪天能收到货",
        "明天能送到吗",
        "今天之内能送到吗",
        "还要等多久啊",
        "估计还要多久",
        "能不能提前发货",
        "改到{days}号送可以吗",
        "这单还能换货吗",
        "收件人电话能改一下吗",
        "怎么申请售后",
        "快递什么时候来取件",
        "能帮我查下这个订单的快递吗",
        "发票能重新开一下吗",
        "下单的时候忘了勾发票",
        "螺丝好像少装了一颗",
        "退货好几天了还在审核",
        "退款记录怎么看不到了",
        "家里白天没人，能不能晚上再送",
        "收货电话写错了，还能改过来吗",
        "下周才回家，能不能晚点发",
        "平时上班不在家，改成周末送吧",
        "这周六能不能送过来",
        "送货时间能改到晚上吗",
    ),
}
PER_TYPE_OWN: Final = 150


def _own_order_rows(rng: random.Random, seen: set[str]) -> list[dict[str, str]]:
    """``PER_TYPE_OWN`` distinct rows per type about an order already placed, half wrapped like
    the sentences above, half bare like a chat turn."""
    rows: list[dict[str, str]] = []
    industries = ("ecommerce", "food_delivery", "logistics", "appliances")
    for category, cores in _OWN_ORDER.items():
        draws = _sentence_draws(rng)
        bare = {
            "opener": _cycle(rng, _TERSE_OPENERS),
            "closer": _cycle(rng, _TERSE_CLOSERS),
            "noise": _cycle(rng, _NOISE),
        }
        turn = _cycle(rng, ("sentence", "bare"))

        def draw(
            category: str = category,
            cores: Sequence[str] = cores,
            draws: dict[str, Callable[[], str]] = draws,
            bare: dict[str, Callable[[], str]] = bare,
            turn: Callable[[], str] = turn,
        ) -> tuple[str, str]:
            industry = rng.choice(industries)
            core = rng.choice(cores)
            if turn() == "sentence":
                return industry, _row(rng, category, industry, core, draws)
            text = bare["opener"]() + core.format(**_slots(rng, industry)) + bare["closer"]()
            return industry, _noise(rng, bare["noise"](), text).strip()

        rows += _distinct(category, PER_TYPE_OWN, seen, draw)
    rng.shuffle(rows)
    return rows


def generate(per_type: int = PER_TYPE, seed: int = SEED) -> list[dict[str, str]]:
    """Return ``per_type`` distinct rows for each request type (deterministic for a seed)."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for category in ("consultation", "problem", "complaint", "after_sales"):
        draws = _sentence_draws(rng)
        pool = [
            (industry, core)
            for k, (industry, by_type) in enumerate(_INTENTS.items())
            for core in (
                *by_type[category],
                *(g for j, g in enumerate(_GENERIC[category]) if (j + k) % 3 == 0),
            )
        ]
        pick = _cycle(rng, [str(i) for i in range(len(pool))])
        made = attempts = 0
        while made < per_type:
            attempts += 1
            if attempts > per_type * 20:
                raise RuntimeError(f"cannot make {per_type} distinct {category} rows")
            industry, core = pool[int(pick())]
            if category in ("complaint", "problem") and made % 3 == 0:
                fault = rng.choice(_INTENTS[industry]["problem"])
                tail = _ACCOUNTABILITY if category == "complaint" else _FIX_IT
                core = fault + rng.choice(tail)
            elif category == "complaint" and made % 6 == 1:
                core = rng.choice(_INTENTS[industry]["problem"]) + rng.choice(_VENTING)
            elif category == "after_sales" and made % 4 == 0:
                core = rng.choice(_PROGRESS)
            text = _row(rng, category, industry, core, draws)
            if text in seen:
                continue
            seen.add(text)
            rows.append({"text": text, "category": category, "lang": "zh", "industry": industry})
            made += 1
    rng.shuffle(rows)
    rows += _terse_rows(rng, seen)
    rows += _held_rows(rng, seen)
    return rows + _own_order_rows(rng, seen)


def main() -> None:
    """Rewrite :data:`OUT` from :func:`generate`."""
    rows = generate()
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main()
