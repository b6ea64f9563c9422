{
  "targets": [
    {
      "target_name": "tscluster_trim",
      "sources": ["native/trim.c"]
    }
  ]
}
