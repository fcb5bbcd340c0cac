EXTRA_DIST += conf/targets.conf conf/ballastd.conf conf/initiatorname.iscsi \
	conf/ballastd.service conf/ballast-targetd.service
