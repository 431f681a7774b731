"""Simplified ↔ traditional Chinese by a small character map (pure Python, no dependency).

Customer messages from Hong Kong, Macau and Taiwan, and from people who simply prefer it, arrive
in 繁體. jieba's dictionary is simplified, so the classifier's word features fold traditional
characters to simplified before segmenting (:func:`to_simplified`); the bootstrap generator
converts a share of its rows the other way (:func:`to_traditional`). The map covers the
characters of customer-service text, one common form each; characters it does not know are left
as they are (most characters are written the same in both scripts).
"""

from typing import Final

__all__ = ["to_simplified", "to_traditional"]


_PAIRS: Final = (
    "这這 个個 们們 为為 么麼 说說 时時 间間 问問 题題 还還 没沒 钱錢 费費 单單 订訂 货貨 发發 "
    "过過 后後 务務 气氣 机機 买買 卖賣 东東 车車 账賬 户戶 号號 码碼 话話 请請 谢謝 让讓 给給 "
    "对對 错錯 开開 关關 门門 网網 线線 电電 视視 运運 动動 办辦 处處 理理 经經 现現 实實 报報 "
    "应應 该該 样樣 种種 样樣 让讓 认認 识識 记記 录錄 无無 达達 连連 进進 边邊 远遠 还還 这這 "
    "务務 员員 态態 度度 差差 坏壞 修修 维維 换換 补補 赔賠 偿償 诉訴 投投 质質 量量 难難 "
    "让讓 银銀 行行 卡卡 转轉 扣扣 额額 余餘 币幣 价價 优優 惠惠 会會 员員 续續 级級 "
    "递遞 快快 件件 丢丟 损損 寄寄 邮郵 站站 收收 签簽 送送 骑騎 饭飯 餐餐 点點 单單 "
    "险險 赔賠 保保 护護 医醫 院院 预預 约約 挂掛 诊診 药藥 检檢 查查 结結 试試 题題 课課 "
    "学學 习習 师師 书書 游遊 戏戲 装裝 备備 角角 色色 区區 服服 务務 软軟 件件 统統 "
    "数數 据據 导導 页頁 面面 图圖 显顯 示示 载載 录錄 登登 陆陸 闪閃 复復 卡卡 顿頓 "
    "飞飛 机機 航航 班班 延延 误誤 酒酒 店店 房房 间間 旅旅 团團 签簽 证證 票票 "
    "汽汽 车車 辆輛 轮輪 胎胎 灯燈 空空 调調 冰冰 箱箱 洗洗 热熱 烧燒 灶竈 燃燃 "
    "水水 费費 欠欠 缴繳 停停 断斷 气氣 户戶 营營 业業 厅廳 话話 宽寬 带帶 流流 "
    "们們 给給 这這 样樣 吗嗎 呢呢 吧吧 啊啊 哦哦 么麼 吗嗎 还還 没沒 了了 着著 过過 "
    "头頭 脑腦 钟鐘 几幾 两兩 块塊 万萬 亿億 岁歲 夺奪 惊驚 乱亂 烦煩 恼惱 气氣 "
    "将將 尽盡 当當 从從 与與 门門 问問 间間 闻聞 阅閱 产產 厂廠 广廣 庆慶 应應 "
    "决決 况況 净淨 凉涼 减減 准準 刚剛 别別 则則 剩剩 务務 动動 劳勞 势勢 勾勾 "
    "华華 协協 单單 卖賣 卫衛 却卻 压壓 厅廳 历歷 参參 双雙 发發 变變 叶葉 号號 "
    "听聽 启啟 员員 响響 团團 园園 围圍 国國 图圖 场場 块塊 坏壞 垃垃 圾圾 声聲 "
    "处處 备備 复復 头頭 夹夾 奋奮 妈媽 实實 宝寶 审審 宫宮 对對 导導 寻尋 将將 "
    "层層 岁歲 岛島 帅帥 师師 帐帳 带帶 帮幫 干幹 并並 广廣 库庫 应應 废廢 开開 "
    "张張 弹彈 强強 归歸 当當 录錄 彻徹 忆憶 态態 怀懷 总總 恋戀 恶惡 悬懸 惊驚 "
    "惯慣 愤憤 懒懶 户戶 扑撲 执執 扩擴 扫掃 扰擾 抢搶 护護 报報 担擔 拥擁 择擇 "
    "挂掛 挡擋 挤擠 挥揮 损損 换換 据據 掷擲 揽攬 搂摟 携攜 摄攝 摆擺 敌敵 敛斂 "
    "数數 断斷 无無 旧舊 时時 显顯 晓曉 暂暫 术術 机機 杀殺 杂雜 权權 条條 来來 "
    "极極 构構 标標 栏欄 树樹 样樣 档檔 桥橋 检檢 楼樓 欢歡 残殘 毕畢 气氣 汇匯 "
    "汉漢 沟溝 没沒 沦淪 泪淚 泽澤 洁潔 浅淺 测測 济濟 浓濃 润潤 涨漲 渐漸 温溫 "
    "湾灣 满滿 滚滾 灭滅 灯燈 灵靈 灾災 炉爐 点點 炼煉 烂爛 热熱 爱愛 爷爺 牵牽 "
    "状狀 犹猶 独獨 猎獵 猪豬 环環 现現 玛瑪 电電 画畫 畅暢 疗療 疯瘋 痒癢 瘫癱 "
    "监監 盖蓋 盘盤 盗盜 码碼 础礎 确確 礼禮 离離 种種 积積 称稱 稳穩 穷窮 窍竅 "
    "窝窩 竞競 笔筆 筑築 签簽 简簡 类類 粮糧 紧緊 纠糾 红紅 约約 级級 纪紀 纯純 "
    "纸紙 纹紋 线線 练練 组組 细細 织織 终終 经經 绑綁 结結 绕繞 绝絕 统統 继繼 "
    "绩績 续續 维維 综綜 绿綠 缓緩 编編 缘緣 缩縮 缴繳 网網 罚罰 罢罷 职職 联聯 "
    "聪聰 肃肅 胁脅 脏髒 脑腦 脚腳 舱艙 艺藝 节節 苏蘇 药藥 获獲 营營 虑慮 虽雖 "
    "蚂螞 补補 衬襯 袜襪 装裝 见見 观觀 规規 视視 览覽 觉覺 订訂 认認 讨討 让讓 "
    "训訓 议議 记記 讲講 许許 论論 设設 访訪 证證 评評 识識 诈詐 诉訴 词詞 译譯 "
    "试試 诚誠 话話 询詢 该該 详詳 语語 误誤 说說 请請 诺諾 读讀 谁誰 调調 谈談 "
    "谎謊 谢謝 谱譜 贝貝 负負 责責 败敗 货貨 质質 贩販 贪貪 购購 贯貫 贴貼 贵貴 "
    "费費 贺賀 资資 赔賠 赖賴 赚賺 赠贈 赶趕 赵趙 趋趨 跃躍 践踐 车車 轨軌 转轉 "
    "轮輪 软軟 轻輕 载載 较較 辅輔 辆輛 输輸 辞辭 边邊 达達 过過 运運 还還 这這 "
    "进進 远遠 违違 连連 迟遲 适適 选選 递遞 逻邏 遗遺 邮郵 邻鄰 郑鄭 酱醬 释釋 "
    "里裡 钥鑰 钮鈕 钱錢 铁鐵 银銀 链鏈 销銷 锁鎖 锅鍋 错錯 键鍵 镜鏡 长長 门門 "
    "闭閉 问問 闲閒 间間 闹鬧 闻聞 阅閱 队隊 阳陽 阶階 际際 陆陸 险險 随隨 隐隱 "
    "难難 雾霧 静靜 面面 韩韓 页頁 项項 顺順 须須 顾顧 顿頓 预預 领領 频頻 题題 "
    "颜顏 额額 风風 飞飛 饭飯 饮飲 饱飽 饿餓 馆館 驶駛 驾駕 验驗 骗騙 鱼魚 鸡雞 "
    "麦麥 黄黃 齐齊 龙龍 厉厲 啰囉 吨噸 呜嗚 咸鹹 哑啞 响響 尝嘗 馈饋 缺缺 "
)
_S2T: Final[dict[str, str]] = {
    pair[0]: pair[1] for pair in _PAIRS.split() if len(pair) == 2 and pair[0] != pair[1]
}


_T2S: Final[dict[str, str]] = {t: s for s, t in _S2T.items()}
_S2T_TABLE: Final = str.maketrans(_S2T)
_T2S_TABLE: Final = str.maketrans(_T2S)


def to_traditional(text: str) -> str:
    """Convert simplified characters of ``text`` to a common traditional form."""
    return text.translate(_S2T_TABLE)


def to_simplified(text: str) -> str:
    """Convert traditional characters of ``text`` to simplified (inverse of the same map)."""
    return text.translate(_T2S_TABLE)
