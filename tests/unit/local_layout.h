/* local_layout.h - regions/local.json's layout as unit tests build it:
 * three regions of two hosts, one zone each, 3 sentinels, and in cluster
 * mode 3 shards of 2 replicas.  A printf format that takes the mode
 * ("sentinel" or "cluster"). */
#ifndef MRD_TEST_LOCAL_LAYOUT_H
#define MRD_TEST_LOCAL_LAYOUT_H

#define MRD_TEST_LOCAL_LAYOUT \
    "{\"name\": \"demo\", \"mode\": \"%s\", \"transport\": {\"kind\": \"local\"}," \
    " \"store\": {\"port\": 16379, \"leader_region\": \"us-east\"}," \
    " \"sentinel\": {\"count\": 3, \"port\": 26379}," \
    " \"cluster\": {\"shards\": 3, \"replicas_per_shard\": 2}," \
    " \"regions\": [" \
    "  {\"name\": \"us-east\", \"zones\": [" \
    "   {\"name\": \"us-east-a\", \"hosts\": [{\"name\": \"use-a1\", \"address\": \"127.0.1.1\"}]}," \
    "   {\"name\": \"us-east-b\", \"hosts\": [{\"name\": \"use-b1\", \"address\": \"127.0.1.2\"}]}]}," \
    "  {\"name\": \"eu-west\", \"zones\": [" \
    "   {\"name\": \"eu-west-a\", \"hosts\": [{\"name\": \"euw-a1\", \"address\": \"127.0.2.1\"}]}," \
    "   {\"name\": \"eu-west-b\", \"hosts\": [{\"name\": \"euw-b1\", \"address\": \"127.0.2.2\"}]}]}," \
    "  {\"name\": \"ap-south\", \"zones\": [" \
    "   {\"name\": \"ap-south-a\", \"hosts\": [{\"name\": \"aps-a1\", \"address\": \"127.0.3.1\"}]}," \
    "   {\"name\": \"ap-south-b\", \"hosts\": [{\"name\": \"aps-b1\", \"address\": \"127.0.3.2\"}]}]}]}"

#endif
