"""The lexicons every charter starts from: prohibited data, and essential services.

A charter may add terms to either (``[prohibited]`` and ``[essential]`` in
``charter.toml``); none can remove one, and no policy can touch them. Term syntax is
described in :mod:`osmanthus.policy.lexicon`: a stem (``relig``), a whole word
(``iris$``), words in a row (``trade_union``), or Chinese characters (``宗教``);
transliterations in Hanyu Pinyin are written as words (``zong_jiao``).

Sources: China's Regulation on the Administration of the Credit Reporting Industry (2013)
Art. 14 (religion, genes, fingerprints, blood type, disease and medical history), widened
as Tianjin's 2020 rules did to all biometrics; the GDPR's special categories (Art. 9:
racial or ethnic origin, political opinions, religious beliefs, trade-union membership,
genetic, biometric and health data, sex life and sexual orientation); and, by Osmanthus'
design (DESIGN.md §2), location traces, communications, the social graph, informant
tips, and petitioning or criticism of the authorities.
"""

from __future__ import annotations

__all__ = ["ESSENTIAL", "ESSENTIAL_EXCEPTIONS", "PROHIBITED"]

PROHIBITED: dict[str, tuple[str, ...]] = {
    "religion": (
        "relig", "church", "chapel", "cathedral", "mosque", "masjid", "temple", "synagog",
        "shrine", "monaster", "pray", "worship", "sermon", "bible", "quran", "koran",
        "islam", "muslim", "moslem", "christian", "catholic", "protestant", "buddhis",
        "buddha", "taois", "daois", "hindu", "jewish", "judais", "sikh", "falun", "sect$",
        "sects$", "cult$", "cults$", "clergy", "imam$", "monk$", "monks$", "nun$", "nuns$",
        "pilgrim", "ramadan", "halal", "kosher", "baptis", "atheis", "faith_based",
        "spiritual", "zong_jiao", "jiao_tang", "qing_zhen_si", "si_miao", "li_bai",
        "宗教", "信仰", "教堂", "礼拜", "清真", "寺庙", "寺院", "佛教", "道教", "基督",
        "天主", "伊斯兰", "穆斯林", "做礼拜", "宗教活动", "法轮", "邪教", "祈祷", "朝圣",
    ),
    "ethnicity": (
        "ethnic", "racial", "race$", "races$", "uyghur", "uighur", "tibetan", "kazakh",
        "mongol", "indigenous", "tribal", "tribe$", "han_chinese", "ethnic_minority",
        "minzu", "shao_shu_min_zu",
        "民族", "种族", "维吾尔", "藏族", "回族", "少数民族", "族别",
    ),
    "political_opinion": (
        "politic", "party_member", "party_affiliation", "ccp$", "cpc$", "communist",
        "ideolog", "dissident", "dissent", "partisan", "voting_record", "vote_choice",
        "protest", "demonstrat", "opinion", "dang_yuan", "ru_dang", "zheng_zhi",
        "政治", "党员", "入党", "党派", "党籍", "意识形态", "抗议", "示威", "异见",
    ),
    "trade_union": (
        "trade_union", "labour_union", "labor_union", "union_member", "unionis",
        "unioniz", "collective_bargaining", "strike_participation", "gong_hui",
        "工会", "罢工",
    ),
    "genetics": (
        "genet", "genom", "dna$", "gene$", "genes$", "hereditar", "ji_yin",
        "基因", "遗传",
    ),
    "biometrics": (
        "biometric", "fingerprint", "finger_print", "face$", "faces$", "facial",
        "face_recognition", "iris$", "retina", "voiceprint", "voice_print", "voice$",
        "gait$", "palm_print", "palmprint", "vein_pattern", "zhi_wen", "ren_lian",
        "hong_mo", "sheng_wen",
        "指纹", "人脸", "面部识别", "刷脸", "虹膜", "视网膜", "声纹", "掌纹", "步态",
        "生物识别", "生物特征",
    ),
    "blood_type": ("blood_type", "bloodtype", "blood_group", "xue_xing", "血型"),
    "health": (
        "health", "medical", "disease", "diagnos", "illness", "sick$", "sickness",
        "mental", "psychiatr", "psycholog", "hiv$", "aids$", "hepatitis", "cancer",
        "tumour", "tumor", "pregnan", "abortion", "contracepti", "disabilit", "covid",
        "vaccin", "patient", "hospitali", "medication", "prescription", "therap",
        "addict", "jian_kang", "bing_li", "bing_shi", "ai_zi_bing", "huai_yun",
        "jing_shen_bing",
        "健康", "疾病", "病史", "病历", "病情", "患病", "患者", "精神病", "心理",
        "艾滋", "肝炎", "癌症", "怀孕", "妊娠", "孕妇", "流产", "残疾", "疫苗", "核酸",
        "就诊", "诊断",
    ),
    "sex_life_and_orientation": (
        "sexual", "sex_life", "gay$", "lesbian", "homosexual", "bisexual", "transgender",
        "lgbt", "queer", "tong_xing_lian", "xing_qu_xiang",
        "性取向", "同性恋", "双性恋", "跨性别", "性生活", "性别认同",
    ),
    "location": (
        "location", "geoloc", "gps$", "whereabouts", "movement", "trace$", "traces$",
        "tracking", "itinerar", "travel_history", "cell_tower", "check_in$", "check_ins$",
        "ding_wei", "gui_ji", "xing_zong", "xing_cheng",
        "定位", "轨迹", "行踪", "行程", "位置信息", "出行记录", "去向",
    ),
    "communications": (
        "communication", "messag", "chat$", "chats$", "chatting", "wechat", "weibo",
        "social_media", "socialmedia", "phone_call", "call_record", "email", "e_mail",
        "sms$", "text_messag", "moments$", "online_speech", "internet_speech",
        "online_post", "browsing", "search_history", "qq$", "wei_xin", "peng_you_quan",
        "聊天", "通讯", "通话", "短信", "微信", "微博", "朋友圈", "社交媒体", "网络言论",
        "言论", "浏览记录",
    ),
    "social_graph": (
        "relative", "relatives", "family_member", "spouse", "sibling", "friend",
        "associate$", "associates$", "acquaintance", "contacts$", "social_graph",
        "social_network", "guilt_by_association", "kinship", "kin$", "household_member",
        "qin_shu", "qin_you", "lian_zuo",
        "亲属", "亲友", "家属", "家人", "配偶", "子女", "朋友", "关系人", "连坐", "株连",
    ),
    "informant_tips": (
        "informant", "informer", "tip_off", "tipoff", "tip_offs", "snitch", "denunciat",
        "anonymous_report", "xian_ren", "gao_mi",
        "线人", "告密", "举报",
    ),
    "petitioning_and_criticism": (
        "petition", "xin_fang", "shang_fang", "criticis", "criticiz", "critic$",
        "critics$", "complaint_against_government", "anti_government",
        "上访", "信访", "批评", "非访", "越级访",
    ),
}  # fmt: skip

ESSENTIAL: dict[str, tuple[str, ...]] = {
    "emergency_and_hospital_care": (
        "emergency", "hospital_admission", "admission_to_hospital", "hospital_admittance",
        "inpatient", "ambulance", "urgent_care", "icu$", "intensive_care",
        "急诊", "急救", "入院", "住院", "抢救",
    ),
    "schooling": (
        "school", "enrol", "enroll", "education", "kindergarten", "compulsory_education",
        "入学", "学籍", "上学", "义务教育", "幼儿园", "就学",
    ),
    "water_power_heating": (
        "water_connection", "water_supply", "water_service", "tap_water", "drinking_water",
        "household_water", "running_water", "electricity", "power_supply",
        "power_connection", "heating", "gas_supply", "gas_connection", "utility_connection",
        "供水", "用水", "自来水", "供电", "用电", "通电", "供暖", "取暖", "供气", "燃气",
    ),
    "basic_social_assistance": (
        "social_assistance", "welfare", "minimum_living", "subsistence", "dibao",
        "food_aid", "food_bank", "unemployment_benefit", "disability_benefit",
        "basic_pension", "di_bao",
        "低保", "最低生活保障", "社会救助", "救济", "特困", "养老金",
    ),
    "registration_and_identity": (
        "housing_registration", "household_registration", "residence_registration",
        "residence_permit", "hukou", "hu_kou", "identity_card", "id_card", "birth_registration",
        "户籍", "户口", "落户", "居住证", "身份证", "出生登记",
    ),
}  # fmt: skip

#: Conveniences around an essential service that a perk may still offer (priority
#: booking of non-emergency hospital services; the service itself stays open to all).
ESSENTIAL_EXCEPTIONS: tuple[str, ...] = ("non-emergency", "非急诊")
